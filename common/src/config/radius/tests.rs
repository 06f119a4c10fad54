use std::path::Path;

use super::*;
use crate::config::Config;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(Path::new("/etc/tessera/tessera.toml"), text)
}

#[test]
fn defaults_without_a_radius_section() {
    let c = parse("").unwrap();
    let r = &c.radius;
    assert_eq!(r.listen, vec!["0.0.0.0:1812".parse().unwrap()]);
    assert_eq!(r.mode, RadiusMode::Auto);
    assert_eq!(r.first_factor, FirstFactor::Password);
    assert!(r.require_message_authenticator);
    assert_eq!(r.state_lifetime, Duration::from_secs(60));
    assert!(!r.allow_unenrolled);
    assert!(r.clients.is_empty());
    assert_eq!(r.separator, None);
}

#[test]
fn design_example_parses() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("vpn.secret");
    std::fs::write(&secret, "s3cret-from-a-file-0123\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let text = format!(
        r#"
[radius]
listen = ["0.0.0.0:1812", "[::1]:1813", "127.0.0.1"]
first_factor = "password"
mode = "auto"
require_message_authenticator = true

[[radius.clients]]
name = "vpn-gw"
address = "192.0.2.0/24"
secret_file = "{}"
mode = "append"
require_message_authenticator = false

[[radius.clients]]
name = "asa"
address = "198.51.100.7"
secret = "inline-secret-0123456789"

[[radius.reply]]
user = "alice"
class = "admins"
filter_id = "vpn-admins"
session_timeout = 3600
"#,
        secret.display()
    );
    let c = parse(&text).unwrap();
    let r = &c.radius;
    assert_eq!(r.listen.len(), 3);
    assert_eq!(r.listen[2], "127.0.0.1:1812".parse().unwrap());
    assert_eq!(r.clients[0].secret.expose(), b"s3cret-from-a-file-0123");
    assert_eq!(r.clients[0].mode, Some(RadiusMode::Append));
    assert_eq!(r.clients[0].require_message_authenticator, Some(false));
    assert_eq!(r.clients[1].network.to_string(), "198.51.100.7/32");
    assert!(r.warnings.iter().any(|w| w.contains("BlastRADIUS")));
    let reply = r.reply_for("alice").unwrap();
    assert_eq!(reply.class.as_deref(), Some("admins"));
    assert_eq!(reply.session_timeout, Some(3600));
    assert!(r.reply_for("bob").is_none());
}

#[test]
fn secret_and_secret_file_together_are_refused_with_the_line() {
    let e = parse(
        "[radius]\n\n[[radius.clients]]\nname = \"a\"\naddress = \"10.0.0.1\"\n\n[[radius.clients]]\nname = \"b\"\naddress = \"10.0.0.2\"\nsecret = \"x\"\nsecret_file = \"/x\"\n",
    )
    .unwrap_err();
    // The first client has no secret at all: it is the one reported.
    assert!(
        e.to_string().contains("radius.clients[0].secret_file"),
        "{e}"
    );
    assert!(e.to_string().contains(":3:"), "{e}");
    let e = parse(
        "[[radius.clients]]\nname = \"b\"\naddress = \"10.0.0.2\"\nsecret = \"x\"\nsecret_file = \"/x\"\n",
    )
    .unwrap_err();
    assert!(e.to_string().contains("not both"), "{e}");
    assert!(e.to_string().contains(":4:"), "{e}");
}

#[test]
fn empty_secret_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("empty.secret");
    std::fs::write(&secret, "\n").unwrap();
    let e = parse(&format!(
        "[[radius.clients]]\nname = \"b\"\naddress = \"10.0.0.2\"\nsecret_file = \"{}\"\n",
        secret.display()
    ))
    .unwrap_err();
    assert!(e.to_string().contains("must be 1 to"), "{e}");
}

/// One rule for a secret file and for a configuration holding an inline secret: warned about
/// when its group or other users can read it, saying which.
#[test]
fn a_secret_file_its_group_or_others_can_read_is_warned_about_like_an_inline_secret() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("open.secret");
    std::fs::write(&secret, "a-long-enough-shared-secret").unwrap();
    let text = format!(
        "[[radius.clients]]\nname = \"b\"\naddress = \"10.0.0.2\"\nsecret_file = \"{}\"\n",
        secret.display()
    );
    let warned = |mode: u32| {
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(mode)).unwrap();
        parse(&text)
            .unwrap()
            .radius
            .warnings
            .into_iter()
            .filter(|w| w.contains("secret file"))
            .collect::<Vec<_>>()
    };
    for (mode, who) in [
        (0o644, "its group and other users"),
        (0o640, "its group"),
        (0o604, "other users"),
    ] {
        let w = warned(mode);
        assert_eq!(w.len(), 1, "mode {mode:o}: {w:?}");
        assert!(w[0].contains(&format!("can be read by {who} ")), "{}", w[0]);
        assert!(w[0].contains(&format!("mode {mode:04o}")), "{}", w[0]);
    }
    // Write or execute bits for others are not the reading this warns about; 0600 and 0400 are
    // what `chmod 600` gives.
    for mode in [0o600, 0o400, 0o602] {
        assert!(warned(mode).is_empty(), "mode {mode:o}");
    }
}

#[test]
fn otp_only_with_the_password_checked_here_is_warned_about_per_client() {
    let clients = "[[radius.clients]]\nname = \"ovpn\"\naddress = \"10.0.0.1\"\nsecret = \"inline-secret-0123456789\"\n\
         [[radius.clients]]\nname = \"asa\"\naddress = \"10.0.0.2\"\nsecret = \"inline-secret-0123456789\"\nmode = \"challenge\"\n";
    let warned = |radius: &str| {
        parse(&format!("[radius]\n{radius}\n{clients}"))
            .unwrap()
            .radius
            .warnings
            .into_iter()
            .filter(|w| w.contains("otp-only"))
            .collect::<Vec<_>>()
    };
    let w = warned("mode = \"otp-only\"");
    assert_eq!(w.len(), 1, "only the otp-only client: {w:?}");
    assert!(w[0].contains("client \"ovpn\""), "{}", w[0]);
    assert!(w[0].contains("SCRV1:"), "{}", w[0]);
    assert!(w[0].contains("first_factor = \"none\""), "{}", w[0]);
    assert!(warned("mode = \"otp-only\"\nfirst_factor = \"none\"").is_empty());
    assert!(warned("mode = \"append\"").is_empty());
}

#[test]
fn a_clients_share_of_the_challenge_table_defaults_to_half_and_is_bounded_by_it() {
    let c = parse("[radius]\nmax_challenges = 101\n").unwrap();
    assert_eq!(c.radius.max_challenges_per_client, 51);
    let c = parse("[radius]\nmax_challenges = 100\nmax_challenges_per_client = 7\n").unwrap();
    assert_eq!(c.radius.max_challenges_per_client, 7);
    let e = parse("[radius]\nmax_challenges = 100\nmax_challenges_per_client = 101\n").unwrap_err();
    assert_eq!(e.key(), Some("radius.max_challenges_per_client"), "{e}");
}

#[test]
fn bad_values_name_their_key() {
    let e = parse("[radius]\nmode = \"push\"\n").unwrap_err();
    assert_eq!(e.key(), Some("radius.mode"));
    let e = parse("[radius]\nfirst_factor = \"ldap\"\n").unwrap_err();
    assert_eq!(e.key(), Some("radius.first_factor"));
    let e = parse("[radius]\nlisten = [\"nowhere\"]\n").unwrap_err();
    assert_eq!(e.key(), Some("radius.listen"));
    let e = parse("[radius]\nseparator = \"1\"\n").unwrap_err();
    assert_eq!(e.key(), Some("radius.separator"));
    let e = parse("[[radius.clients]]\nname = \"x\"\naddress = \"10.0.0.0/33\"\nsecret = \"s\"\n")
        .unwrap_err();
    assert_eq!(e.key(), Some("radius.clients[0].address"));
    let e = parse("[[radius.clients]]\nname = \"x\"\nadress = \"10.0.0.1\"\n").unwrap_err();
    assert!(e.to_string().contains("adress"), "{e}");
    assert!(e.to_string().contains(":3:"), "{e}");
}

#[test]
fn duplicate_client_names_are_refused() {
    let e = parse(
        "[[radius.clients]]\nname = \"x\"\naddress = \"10.0.0.1\"\nsecret = \"s\"\n[[radius.clients]]\nname = \"x\"\naddress = \"10.0.0.2\"\nsecret = \"s\"\n",
    )
    .unwrap_err();
    assert!(e.to_string().contains("used by another client"), "{e}");
    assert!(e.to_string().contains(":6:"), "{e}");
}

#[test]
fn cidr_host_bits_are_cleared() {
    let c = parse("[[radius.clients]]\nname = \"x\"\naddress = \"10.1.2.3/8\"\nsecret = \"s\"\n")
        .unwrap();
    assert_eq!(c.radius.clients[0].network.to_string(), "10.0.0.0/8");
}

/// Review finding 12: reply attributes followed the typed spelling.
#[test]
fn reply_attributes_are_found_under_any_spelling_and_spellings_may_not_repeat() {
    let c = parse(
        "[[radius.reply]]\nuser = \"contractor\"\nfilter_id = \"restricted\"\n\
         [[radius.reply]]\nuser = \"*\"\nfilter_id = \"everyone\"\n",
    )
    .unwrap();
    for user in ["contractor", "CONTRACTOR", "contractor "] {
        assert_eq!(
            c.radius.reply_for(user).unwrap().filter_id.as_deref(),
            Some("restricted"),
            "{user:?}"
        );
    }
    assert_eq!(
        c.radius.reply_for("other").unwrap().filter_id.as_deref(),
        Some("everyone")
    );
    let e = parse(
        "[[radius.reply]]\nuser = \"bob\"\nclass = \"a\"\n[[radius.reply]]\nuser = \"BOB\"\nclass = \"b\"\n",
    )
    .unwrap_err();
    assert!(e.to_string().contains("another entry"), "{e}");
}

#[test]
fn an_inline_secret_in_a_config_others_can_read_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("gw.secret");
    std::fs::write(&secret_file, "from-a-file-0123456789").unwrap();
    std::fs::set_permissions(&secret_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let config = dir.path().join("tessera.toml");
    let text = format!(
        "[[radius.clients]]\nname = \"inline\"\naddress = \"192.0.2.1\"\nsecret = \"inline-secret-0123456789\"\n\
         [[radius.clients]]\nname = \"file\"\naddress = \"192.0.2.2\"\nsecret_file = \"{}\"\n",
        secret_file.display()
    );
    std::fs::write(&config, &text).unwrap();
    let warned = |mode: u32| {
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(mode)).unwrap();
        let c = Config::load(&config).unwrap();
        c.radius
            .warnings
            .iter()
            .filter(|w| w.contains("written inline"))
            .cloned()
            .collect::<Vec<_>>()
    };
    for mode in [0o644, 0o640, 0o604] {
        let w = warned(mode);
        assert_eq!(w.len(), 1, "mode {mode:o}: {w:?}");
        assert!(w[0].contains("client \"inline\""), "{}", w[0]);
        assert!(w[0].contains(&format!("mode {mode:04o}")), "{}", w[0]);
        assert!(w[0].contains(&config.display().to_string()), "{}", w[0]);
        assert!(
            !w[0].contains("inline-secret-0123456789"),
            "the secret itself: {}",
            w[0]
        );
    }
    assert!(warned(0o600).is_empty());
}

#[test]
fn an_ipv4_mapped_client_address_is_warned_about() {
    let c = parse(
        "[[radius.clients]]\nname = \"mapped\"\naddress = \"::ffff:10.1.2.3\"\nsecret = \"inline-secret-0123456789\"\n\
         [[radius.clients]]\nname = \"mapped-net\"\naddress = \"::ffff:10.0.0.0/104\"\nsecret = \"inline-secret-0123456789\"\n\
         [[radius.clients]]\nname = \"v6\"\naddress = \"2001:db8::/32\"\nsecret = \"inline-secret-0123456789\"\n",
    )
    .unwrap();
    let w = &c.radius.warnings;
    assert!(
        w.iter().any(|w| w.contains("client \"mapped\"")
            && w.contains("IPv4-mapped")
            && w.contains("address = \"10.1.2.3\"")),
        "{w:?}"
    );
    assert!(
        w.iter()
            .any(|w| w.contains("client \"mapped-net\"") && w.contains("\"10.0.0.0/8\"")),
        "{w:?}"
    );
    assert!(!w.iter().any(|w| w.contains("client \"v6\"")), "{w:?}");
}

#[test]
fn a_network_listed_twice_is_warned_about() {
    let c = parse(
        "[[radius.clients]]\nname = \"first\"\naddress = \"10.0.0.0/8\"\nsecret = \"inline-secret-0123456789\"\n\
         [[radius.clients]]\nname = \"host\"\naddress = \"10.1.2.3\"\nsecret = \"inline-secret-0123456789\"\n\
         [[radius.clients]]\nname = \"again\"\naddress = \"10.9.9.9/8\"\nsecret = \"inline-secret-0123456789\"\n",
    )
    .unwrap();
    let w: Vec<_> = c
        .radius
        .warnings
        .iter()
        .filter(|w| w.contains("never matches"))
        .collect();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains("client \"again\"")
            && w[0].contains("client \"first\"")
            && w[0].contains("10.0.0.0/8"),
        "{}",
        w[0]
    );
}

#[test]
fn fair_shares_default_to_half_the_places_and_a_few_challenges_per_user() {
    let r = parse("").unwrap().radius;
    assert_eq!(r.max_in_flight_per_client, 512);
    assert_eq!(r.max_challenges_per_user, 3);
    let r = parse("[radius]\nmax_in_flight = 9").unwrap().radius;
    assert_eq!(
        r.max_in_flight_per_client, 5,
        "half of max_in_flight, rounded up"
    );
    let r = parse(
        "[radius]\nmax_in_flight = 9\nmax_in_flight_per_client = 9\nmax_challenges_per_user = 1",
    )
    .unwrap()
    .radius;
    assert_eq!(
        (r.max_in_flight_per_client, r.max_challenges_per_user),
        (9, 1)
    );
}

#[test]
fn a_client_share_above_the_whole_is_refused() {
    let e = parse("[radius]\nmax_in_flight = 8\nmax_in_flight_per_client = 9")
        .unwrap_err()
        .to_string();
    assert!(e.contains("radius.max_in_flight_per_client"), "{e}");
    assert!(e.contains("9 is out of range (allowed 1..=8)"), "{e}");
    let e = parse("[radius]\nmax_challenges_per_user = 0")
        .unwrap_err()
        .to_string();
    assert!(e.contains("radius.max_challenges_per_user"), "{e}");
}
