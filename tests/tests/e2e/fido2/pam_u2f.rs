//! A pam_u2f mapping file brought over with `tessera import pam-u2f`, then the same keys logging
//! in through pam_tessera.so. The credentials are made on software keys as pamu2fcfg would have
//! had them made (for pam_u2f's origin), and written in both of pam_u2f's line formats.

use std::path::Path;

use base64ct::{Base64, Base64UrlUnpadded, Encoding};
use serde_json::Value;
use tessera_common::fido2::{CoseAlg, CredentialRequest, PublicKey};
use tessera_fido2::Device;
use tessera_fido2::soft::{SoftAlg, SoftKey, SoftOptions};
use tessera_tests::Install;

use super::{Keys, counters, fido2_factors, service, stderr};
use crate::pam::last_audit;

/// pam_u2f's `origin=`, unlike the installation's default rp id (pam://HOSTNAME).
const ORIGIN: &str = "pam://u2f-host";

/// A new key at `path` that makes `alg` credentials, with one credential for `user` made for
/// [`ORIGIN`]: (its id, its public key).
fn pamu2fcfg(path: &Path, user: &str, alg: SoftAlg) -> (Vec<u8>, PublicKey) {
    pamu2fcfg_with(path, user, alg, None)
}

/// [`pamu2fcfg`] on a key with this PIN, the credential resident (`pamu2fcfg -r -N`).
fn pamu2fcfg_with(
    path: &Path,
    user: &str,
    alg: SoftAlg,
    pin: Option<&str>,
) -> (Vec<u8>, PublicKey) {
    let options = SoftOptions {
        algorithms: vec![alg],
        pin: pin.map(str::to_string),
        ..SoftOptions::default()
    };
    let mut key = SoftKey::create(path, options).unwrap();
    let request = CredentialRequest {
        rp_id: ORIGIN.into(),
        challenge: [7; 32],
        user_id: user.as_bytes().to_vec(),
        user_name: user.into(),
        algorithms: vec![CoseAlg::Es256, CoseAlg::EdDsa],
        resident: pin.is_some(),
        verification: pin.is_some(),
        exclude_list: Vec::new(),
    };
    key.make_credential(&request, pin).unwrap();
    let made = SoftKey::credentials(path).unwrap();
    assert_eq!(made.len(), 1);
    (made[0].id.clone(), made[0].public_key().unwrap())
}

/// pamu2fcfg ≥ 1.1: `base64(credential id),base64(raw key),es256|eddsa,+presence`, the raw key
/// of ES256 being x‖y (64 bytes) and of EdDSA the 32-byte key.
fn new_format(id: &[u8], key: &PublicKey) -> String {
    let (raw, kind) = match key {
        PublicKey::Es256(point) => (&point[1..], "es256"),
        PublicKey::EdDsa(k) => (&k[..], "eddsa"),
    };
    assert_eq!(raw.len(), if kind == "es256" { 64 } else { 32 });
    format!(
        "{},{},{kind},+presence",
        Base64::encode_string(id),
        Base64::encode_string(raw)
    )
}

/// The U2F-era two fields: `websafe-base64(key handle),hex(04‖x‖y)`.
fn old_format(id: &[u8], key: &PublicKey) -> String {
    let PublicKey::Es256(point) = key else {
        panic!("the old format holds P-256 keys only");
    };
    let hex: String = point.iter().map(|b| format!("{b:02x}")).collect();
    format!("{},{hex}", Base64UrlUnpadded::encode_string(id))
}

fn import(t: &Install, file: &Path) -> (Option<i32>, Value, String) {
    let out = t.tessera(&[
        "--json",
        "import",
        "pam-u2f",
        file.to_str().unwrap(),
        "--origin",
        ORIGIN,
    ]);
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    (out.status.code(), json, stderr(&out))
}

/// (created, factor ids, already present) of `user` in an import's report.
fn reported(report: &Value, user: &str) -> (bool, usize, u64) {
    let u = report["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["user"] == user)
        .unwrap_or_else(|| panic!("{user} not in {report}"));
    (
        u["user_created"].as_bool().unwrap(),
        u["factor_ids"].as_array().unwrap().len(),
        u["already_present"].as_u64().unwrap(),
    )
}

#[test]
fn pam_u2f_file_in_both_formats_imports_once_and_its_keys_log_in() {
    let keys = Keys::new();
    let (es, ed, old) = (
        keys.dir.path().join("es.json"),
        keys.dir.path().join("ed.json"),
        keys.dir.path().join("old.json"),
    );
    let (id_es, pk_es) = pamu2fcfg(&es, "alice", SoftAlg::Es256);
    let (id_ed, pk_ed) = pamu2fcfg(&ed, "alice", SoftAlg::Eddsa);
    let (id_old, pk_old) = pamu2fcfg(&old, "bob", SoftAlg::Es256);
    let file = keys.dir.path().join("u2f_mappings");
    let text = format!(
        "# made with pamu2fcfg -o {ORIGIN}\n\
         alice:{}:{}\n\
         mallory:AAAA,AAAA,es256,+presence\n\
         bob:{}\n",
        new_format(&id_es, &pk_es),
        new_format(&id_ed, &pk_ed),
        old_format(&id_old, &pk_old)
    );
    std::fs::write(&file, text).unwrap();

    // The default rp id differs from the file's origin: --origin decides.
    let t = Install::new("[policy]\nmax_tries = 1\n");
    let (status, report, err) = import(&t, &file);
    assert_eq!(status, Some(1), "a broken line: exit 1\n{report}\n{err}");
    assert!(err.contains("line 3 (user mallory"), "{err}");
    assert_eq!(
        report["errors"].as_array().map(Vec::len),
        Some(1),
        "{report}"
    );
    assert_eq!(report["rp_id"], ORIGIN, "{report}");
    assert_eq!(reported(&report, "alice"), (true, 2, 0));
    assert_eq!(reported(&report, "bob"), (true, 1, 0));
    assert!(
        !t.tessera(&["user", "show", "mallory"]).status.success(),
        "the broken line's user was not created"
    );
    let alice = fido2_factors(&t, "alice");
    let mut algorithms: Vec<&str> = alice
        .iter()
        .map(|f| f["algorithm"].as_str().unwrap())
        .collect();
    algorithms.sort_unstable();
    assert_eq!(algorithms, ["eddsa", "es256"], "{alice:?}");
    for f in alice.iter().chain(&fido2_factors(&t, "bob")) {
        assert_eq!(
            (&f["origin"], &f["rp_id"], &f["presence"], &f["status"]),
            (
                &"pam_u2f".into(),
                &ORIGIN.into(),
                &true.into(),
                &"active".into()
            ),
            "{f}"
        );
    }

    // Again: nothing added, the broken line reported again.
    let (status, report, _) = import(&t, &file);
    assert_eq!(status, Some(1), "{report}");
    assert_eq!(reported(&report, "alice"), (false, 0, 2));
    assert_eq!(reported(&report, "bob"), (false, 0, 1));
    assert_eq!(fido2_factors(&t, "alice").len(), 2);
    assert_eq!(fido2_factors(&t, "bob").len(), 1);

    // The same keys log in: each of alice's alone, and bob's old-format U2F credential.
    for (user, key) in [("alice", &ed), ("alice", &es), ("bob", &old)] {
        let run = service(&t, "", &[key]).pamtester(user, "", &[]);
        run.assert_ok();
        let ev = last_audit(&t, user);
        assert_eq!(
            (&ev["result"], &ev["method"]),
            (&"accept".into(), &"fido2".into()),
            "{ev}"
        );
        assert_eq!(counters(key), [1], "{user} with {}", key.display());
    }
    // alice's key holds nothing of bob's: no login for him with it, and it signed nothing.
    let run = service(&t, "", &[&es]).pamtester("bob", "", &[]);
    assert!(!run.ok(), "{}", run.out);
    assert!(
        run.out.contains("holds none of your credentials"),
        "{}",
        run.out
    );
    assert_eq!(counters(&es), [1]);
}

/// A resident credential (`*`: the key finds it by the rp id) that asks for the PIN (`+pin`).
#[test]
fn pam_u2f_resident_credential_with_pin_imports_and_asks_for_the_pin() {
    let keys = Keys::new();
    let key = keys.dir.path().join("resident.json");
    let (_, pk) = pamu2fcfg_with(&key, "carol", SoftAlg::Eddsa, Some("4321"));
    let PublicKey::EdDsa(raw) = pk else {
        panic!("an EdDSA key was asked for");
    };
    let file = keys.dir.path().join("u2f_keys");
    let line = format!(
        "carol:*,{},eddsa,+presence+pin\n",
        Base64::encode_string(&raw)
    );
    std::fs::write(&file, line).unwrap();
    let t = Install::new("");
    let (status, report, err) = import(&t, &file);
    assert_eq!(status, Some(0), "{report}\n{err}");
    assert_eq!(reported(&report, "carol"), (true, 1, 0));
    let f = &fido2_factors(&t, "carol")[0];
    assert_eq!(
        (&f["resident"], &f["pin"]),
        (&true.into(), &true.into()),
        "{f}"
    );

    service(&t, "", &[&key])
        .pamtester_pty(
            "carol",
            &[
                (super::PIN_PROMPT, "4321"),
                (super::TOUCH, ""),
                ("successfully authenticated", ""),
            ],
        )
        .assert_ok();
    assert_eq!(last_audit(&t, "carol")["method"], "fido2");
    // Two signatures: the silent look-up that tells which key may be given the PIN, then
    // the login's.
    assert_eq!(counters(&key), [2]);
}
