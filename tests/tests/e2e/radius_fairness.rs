//! `tessera-radiusd` under one peer's pressure: what one NAS (or anyone who can reach one)
//! sends must not take what the other NASes' users need — the workers deciding passwords, the
//! threads and places of a hung SMTP server, the table of pending challenges, the memory of the
//! duplicate cache. Each test asserts an outcome (answered at all, not shed, a count), never a
//! speed: the machine running them may be loaded.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use radius::core::avp::AVP;
use radius::core::code::Code;
use radius::core::packet::Packet;
use tessera_tests::oathtool_code;
use tessera_tests::radius::Signer;

use crate::radius::{SECRET, install, install_with, start, user_with_password};

/// Two NASes: "attacker" at 127.0.0.1 and "victim" at 127.0.0.2.
fn two_clients() -> String {
    format!(
        "[[radius.clients]]\nname = \"attacker\"\naddress = \"127.0.0.1\"\nsecret = \"{SECRET}\"\n\
         [[radius.clients]]\nname = \"victim\"\naddress = \"127.0.0.2\"\nsecret = \"{SECRET}\"\n"
    )
}

fn sock(addr: &str) -> UdpSocket {
    UdpSocket::bind((addr, 0)).unwrap()
}

/// The next datagram on `s` within `wait`, decoded.
fn recv(s: &UdpSocket, wait: Duration) -> Option<Packet> {
    s.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 4096];
    let (n, _) = s.recv_from(&mut buf).ok()?;
    Some(Packet::decode(&buf[..n], SECRET.as_bytes()).unwrap())
}

/// Generous: far more than any of these requests needs, far less than what the defects took.
const ANSWERED_WITHIN: Duration = Duration::from_secs(10);

/// Review 2h: a correct password from another NAS waited 16 s behind 500 wrong passwords the
/// first NAS had queued within its share.
#[test]
fn radius_one_clients_password_flood_does_not_starve_another_clients_passwords() {
    let t = install("mode = \"challenge\"\nworkers = 2", &two_clients());
    user_with_password(&t, "victor", "hunter2");
    let s = start(t);
    let signer = Signer::new(SECRET);
    let victim = sock("127.0.0.2");
    let n = 500;
    let flood: Vec<UdpSocket> = (0..n / 250 + 1).map(|_| sock("127.0.0.1")).collect();
    for i in 0..n {
        let mut p = signer.access_packet((i % 250) as u8, &format!("nobody{i}"), "wrong");
        p.add(AVP::from_string(
            31,
            &format!("198.51.{}.{}", i / 250, i % 250),
        ));
        flood[i / 250].send_to(&signer.sign(p), s.addr()).unwrap();
    }
    // Once the flood is in: its first decisions are out.
    s.log_containing("client=attacker");
    victim
        .send_to(&signer.access_request(1, "victor", "hunter2"), s.addr())
        .unwrap();
    let r = recv(&victim, Duration::from_secs(60)).expect("the victim NAS is answered");
    assert_eq!(r.get_code(), Code::AccessChallenge, "{}", s.log());
    let log = s.log_containing("user=victor result=challenge");
    let before = log
        .lines()
        .take_while(|l| !l.contains("user=victor"))
        .filter(|l| l.contains("decision client=attacker"))
        .count();
    // Decided in turns, and the attacker holds at most its share of slow work (16 with two
    // workers): the rest of its flood was shed, not queued ahead of the victim.
    assert!(
        before <= 40,
        "{before} of the attacker's password checks were decided before the victim's"
    );
    assert!(
        log.contains("client=attacker reason=client_overloaded"),
        "the flood past its share is shed: {log}"
    );
}

/// Review 2h: with SMTP hanging, every password (a TOTP user's too) waited for a mail place
/// while holding its place in flight, and then the client's code answers were shed.
#[test]
fn radius_a_hung_smtp_server_holds_up_neither_passwords_nor_codes() {
    use crate::email_frontends::{email_user, point_smtp_at};
    use tessera_tests::{SmtpMode, SmtpServer};
    let smtp = SmtpServer::start(SmtpMode::Plain);
    let t = install_with(
        "mode = \"challenge\"\nfirst_factor = \"none\"\nworkers = 2\nmax_in_flight = 8\nmax_in_flight_per_client = 4",
        "",
        &smtp.config("min_interval = \"0s\""),
    );
    email_user(&t, &smtp, "alice");
    email_user(&t, &smtp, "bob");
    email_user(&t, &smtp, "carol");
    t.enroll_totp("tina");
    let (tom_key, _) = t.enroll_totp("tom");
    // A server that accepts connections and never says a word.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    point_smtp_at(&t, silent.local_addr().unwrap().port(), "60s");
    let s = start(t);
    let signer = Signer::new(SECRET);
    // tom is asked for his code.
    let tom = sock("127.0.0.1");
    tom.send_to(&signer.access_request(1, "tom", "pw"), s.addr())
        .unwrap();
    let r = recv(&tom, ANSWERED_WITHIN).expect("tom's challenge");
    assert_eq!(r.get_code(), Code::AccessChallenge);
    let state = r.lookup(24).unwrap().encode_bytes();
    // alice's and bob's mails hang, one per mail place.
    let hung: Vec<UdpSocket> = (0..2).map(|_| sock("127.0.0.1")).collect();
    for (c, user) in hung.iter().zip(["alice", "bob"]) {
        c.send_to(&signer.access_request(2, user, "pw"), s.addr())
            .unwrap();
    }
    // Both mails are being sent: their connections are open, and never answered.
    silent.set_nonblocking(true).unwrap();
    let mut held = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while held.len() < 2 && Instant::now() < deadline {
        match silent.accept() {
            Ok((conn, _)) => held.push(conn),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    assert_eq!(held.len(), 2, "both mails are being sent: {}", s.log());
    // A TOTP user's password sends no mail: answered.
    let tina = sock("127.0.0.1");
    tina.send_to(&signer.access_request(3, "tina", "pw"), s.addr())
        .unwrap();
    let r = recv(&tina, ANSWERED_WITHIN).expect("tina's password step is answered");
    assert_eq!(r.get_code(), Code::AccessChallenge, "{}", s.log());
    // A third mail finds no place: it fails at once, not queued behind the hung ones, and carol
    // (who has recovery codes) is asked for another code.
    let carol = sock("127.0.0.1");
    carol
        .send_to(&signer.access_request(4, "carol", "pw"), s.addr())
        .unwrap();
    let r =
        recv(&carol, ANSWERED_WITHIN).unwrap_or_else(|| panic!("carol is answered: {}", s.log()));
    assert_eq!(r.get_code(), Code::AccessChallenge, "{}", s.log());
    s.log_containing(
        "e-mailing a code to c***@example.com failed, the login goes on without it: not sent",
    );
    // tom's code answer is decided, not shed for want of places.
    let mut p = signer.access_packet(5, "tom", &oathtool_code(&tom_key, 0));
    p.add(AVP::from_bytes(24, &state));
    tom.send_to(&signer.sign(p), s.addr()).unwrap();
    let r = recv(&tom, ANSWERED_WITHIN).expect("tom's code is answered");
    assert_eq!(r.get_code(), Code::AccessAccept, "{}", s.log());
    assert!(!s.log().contains("client_overloaded"), "{}", s.log());
}

/// Review 2h: logins for a name at one NAS evicted that user's pending challenge at another,
/// and one NAS could fill the whole challenge table with made-up names.
#[test]
fn radius_one_nas_neither_evicts_another_nas_challenges_nor_fills_the_table() {
    let t = install(
        "mode = \"challenge\"\nfirst_factor = \"none\"\nmax_challenges = 100",
        &two_clients(),
    );
    let (victor_key, _) = t.enroll_totp("victor");
    t.enroll_totp("vera");
    let s = start(t);
    let signer = Signer::new(SECRET);
    let victim = sock("127.0.0.2");
    victim
        .send_to(&signer.access_request(1, "victor", "pw"), s.addr())
        .unwrap();
    let r = recv(&victim, ANSWERED_WITHIN).expect("victor's challenge");
    assert_eq!(r.get_code(), Code::AccessChallenge);
    let state = r.lookup(24).unwrap().encode_bytes();
    // The other NAS: logins for victor's name past his cap, then made-up names past its share
    // of the table (50 of 100).
    let attacker = sock("127.0.0.1");
    for id in 0..5u8 {
        attacker
            .send_to(&signer.access_request(id, "victor", "pw"), s.addr())
            .unwrap();
        recv(&attacker, ANSWERED_WITHIN).expect("answered");
    }
    let mut refused = 0;
    for i in 0..120u32 {
        attacker
            .send_to(
                &signer.access_request((i % 250) as u8 + 5, &format!("ghost{i}"), "pw"),
                s.addr(),
            )
            .unwrap();
        let r = recv(&attacker, ANSWERED_WITHIN).expect("answered");
        refused += u32::from(r.get_code() == Code::AccessReject);
    }
    assert!(refused >= 70, "past its share: {refused} of 120 refused");
    // victor's challenge is still his, and the victim NAS still gets challenges.
    let mut p = signer.access_packet(2, "victor", &oathtool_code(&victor_key, 0));
    p.add(AVP::from_bytes(24, &state));
    victim.send_to(&signer.sign(p), s.addr()).unwrap();
    let r = recv(&victim, ANSWERED_WITHIN).expect("victor's answer");
    assert_eq!(r.get_code(), Code::AccessAccept, "{}", s.log());
    victim
        .send_to(&signer.access_request(3, "vera", "pw"), s.addr())
        .unwrap();
    let r = recv(&victim, ANSWERED_WITHIN).expect("vera's challenge");
    assert_eq!(r.get_code(), Code::AccessChallenge, "{}", s.log());
}
