//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`, never in a release build).
//! Each checks a property and panics when it does not hold: a panic is what the fuzzer reports.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failed property must crash

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use radius::core::code::Code;
use radius::core::packet::Packet;
use tessera_common::TotpOptions;
use tessera_common::testing::TestCore;
use zeroize::Zeroizing;

use crate::challenge::Challenges;
use crate::clients::Clients;
use crate::codec::{self, ReplyAttr};
use crate::handler::{AccessRequest, Credential, Handler, Nas};

/// The shared secret of every fuzzed client.
pub const SECRET: &[u8] = b"testing123-long-secret";

/// Whatever decodes re-encodes, and the re-encoded bytes decode to the same request: code,
/// identifier, authenticator, attributes in order, User-Password and Message-Authenticator.
/// A response to it encodes, and is signed so that a NAS would accept it.
pub fn codec_round_trip(data: &[u8]) {
    let Ok(req) = codec::parse(data, SECRET) else {
        return;
    };
    let Ok(again) = req.packet().encode() else {
        return;
    };
    let req2 = codec::parse(&again, SECRET)
        .unwrap_or_else(|e| panic!("re-encoded request does not decode: {e}"));
    assert_eq!(req.code(), req2.code());
    assert_eq!(req.identifier(), req2.identifier());
    assert_eq!(attributes(req.packet()), attributes(req2.packet()));
    assert_eq!(
        req.has_message_authenticator(),
        req2.has_message_authenticator()
    );
    if matches!(req.code(), Code::AccessRequest | Code::StatusServer) {
        // Requests are re-encoded as they came: same bytes, same authenticator.
        assert_eq!(req.raw(), again.as_slice());
        assert_eq!(req.authenticator(), req2.authenticator());
        assert_eq!(
            req.verify_message_authenticator(SECRET),
            req2.verify_message_authenticator(SECRET)
        );
        let pw = |r: &codec::Request| r.user_password().map(|p| p.map(|p| p.to_vec()));
        assert_eq!(pw(&req), pw(&req2));
    }
    let attrs = [ReplyAttr::Text(
        codec::REPLY_MESSAGE,
        String::from_utf8_lossy(data).into_owned(),
    )];
    if let Ok(resp) = codec::encode_response(&req, Code::AccessReject, &attrs, SECRET) {
        check_response(&req, &resp);
    }
}

fn attributes(p: &Packet) -> Vec<Vec<u8>> {
    (0..=255u8)
        .flat_map(|t| {
            p.lookup_all(t)
                .into_iter()
                .map(move |a| [vec![t], a.encode_bytes()].concat())
        })
        .collect()
}

/// A response decodes, carries a valid Message-Authenticator (keyed to the request's
/// authenticator) and the right Response Authenticator.
fn check_response(req: &codec::Request, resp: &[u8]) {
    assert!(
        resp.len() <= codec::MAX_PACKET,
        "response of {} bytes",
        resp.len()
    );
    let parsed = codec::parse(resp, SECRET)
        .unwrap_or_else(|e| panic!("our own response does not decode: {e}"));
    assert_eq!(parsed.identifier(), req.identifier());
    let mut with_request_auth = resp.to_vec();
    with_request_auth[4..codec::HEADER_LEN].copy_from_slice(&req.authenticator());
    let reparsed = codec::parse(&with_request_auth, SECRET).unwrap();
    assert!(reparsed.verify_message_authenticator(SECRET));
    assert_eq!(
        codec::response_authenticator(resp, &req.authenticator(), SECRET),
        parsed.authenticator()
    );
}

/// One installation for the whole run: alice (password `hunter2`, an authenticator) and bob
/// (password `bobpass`, no factor), and three clients: 127.0.0.1 `append`, 127.0.0.2
/// `challenge`, 127.0.0.3 `otp-only`.
struct Fixture {
    core: TestCore,
    handler: Handler,
    clients: Clients,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let mut text = String::from(
            "[store]\npath = \"t.db\"\nkey_file = \"t.key\"\n\
             [argon2]\nmemory_kib = 64\niterations = 1\n[radius]\nmode = \"auto\"\n",
        );
        for (i, mode) in ["append", "challenge", "otp-only"].iter().enumerate() {
            text.push_str(&format!(
                "[[radius.clients]]\nname = \"c{i}\"\naddress = \"127.0.0.{}\"\n\
                 secret = \"{}\"\nmode = \"{mode}\"\n",
                i + 1,
                String::from_utf8_lossy(SECRET)
            ));
        }
        let core = TestCore::new(&text, 1_700_000_010, None);
        core.admin.add_user("alice", None).unwrap();
        core.admin.set_password("alice", Some("hunter2")).unwrap();
        core.enroll_totp("alice", &TotpOptions::activated());
        core.admin.add_user("bob", None).unwrap();
        core.admin.set_password("bob", Some("bobpass")).unwrap();
        Fixture {
            handler: Handler::new(
                core.auth.clone(),
                Arc::new(Challenges::new(Duration::from_secs(60), 1000, 3, 1000)),
            ),
            clients: Clients::from_config(&core.config.radius),
            core,
        }
    })
}

/// The request path of the server from the datagram to the signed reply, over a real store:
/// the first byte picks the client (and so the mode), the rest is the datagram. Whatever the
/// input, the handler decides (no panic) and the reply is a well-signed RADIUS packet.
pub fn handle(data: &[u8]) {
    let Some((&pick, datagram)) = data.split_first() else {
        return;
    };
    let f = fixture();
    // Lockouts and throttles would soon stop every login: time moves on between inputs.
    f.core.clock.advance(3600);
    let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + pick % 3));
    let client = f
        .clients
        .find(ip)
        .expect("every fuzzed client is configured")
        .clone();
    let Ok(req) = codec::parse(datagram, SECRET) else {
        return;
    };
    if req.code() != Code::AccessRequest
        || (req.has_message_authenticator() && !req.verify_message_authenticator(SECRET))
    {
        return;
    }
    // As `Server::datagram` builds it.
    let credential = match req.user_password() {
        Some(Ok(pw)) => Credential::Pap(Zeroizing::new(pw.to_vec())),
        Some(Err(_)) => Credential::Undecodable,
        None if req.has(codec::CHAP_PASSWORD) => Credential::Chap,
        None if req.vendors().contains(&codec::VENDOR_MICROSOFT) => Credential::MsChap,
        None if req.has(codec::EAP_MESSAGE) => Credential::Eap,
        None => Credential::Missing,
    };
    let access = AccessRequest {
        client,
        source: ip,
        user: req.user_name(),
        credential,
        state: req.bytes(codec::STATE),
        nas: Nas {
            ip: req.nas_ip(),
            identifier: req.text(codec::NAS_IDENTIFIER),
            calling_station: req.text(codec::CALLING_STATION_ID),
        },
    };
    let quick = f.handler.is_quick(&access);
    let decision = if quick {
        f.handler
            .decide_batch(vec![access])
            .pop()
            .expect("one decision per request")
    } else {
        f.handler.decide(access)
    };
    let (code, attrs) = crate::server::reply_packet(&decision.reply);
    let resp = codec::encode_response(&req, code, &attrs, SECRET)
        .unwrap_or_else(|e| panic!("cannot encode the reply: {e}"));
    check_response(&req, &resp);
}
