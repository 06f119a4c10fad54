//! Where a login comes from, as one throttle key per place: what PAM's `PAM_RHOST` or a RADIUS
//! `Calling-Station-Id` says, written many ways for one place, is made one spelling here.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

/// The longest origin kept whole; longer ones are cut (a NAS's free text, not an address).
const MAX_ORIGIN: usize = 128;

/// One spelling per place, or `None` when the text says nothing (empty or blank):
///
/// - an IP address with or without a port (`192.0.2.7:51234`, `[2001:db8::1]:22`), a zone
///   (`fe80::1%eth0`) or brackets, is the address alone;
/// - an IPv6 address that carries an IPv4 one (IPv4-mapped `::ffff:192.0.2.7`, SIIT
///   `::ffff:0:192.0.2.7`, NAT64 `64:ff9b::192.0.2.7`, the old IPv4-compatible `::192.0.2.7`)
///   is the IPv4 address: behind a translator every IPv4 client is its own place;
/// - loopback (`::1`), unspecified (`::`) and link-local (`fe80::/10`) IPv6 addresses are
///   themselves;
/// - any other IPv6 address is its /64 (`2001:db8:1:2::/64`): one host may hold a whole /64,
///   so a key per address would give it 2^64 fresh counters (hosts sharing a /64 share a key,
///   as hosts behind one NAT do);
/// - a MAC address in any of its spellings (`00-1A-2B-3C-4D-5E`, `001a.2b3c.4d5e`) is
///   `00:1a:2b:3c:4d:5e`;
/// - anything else (a host name, a phone number) is trimmed and lower-cased.
pub fn origin_key(raw: &str) -> Option<String> {
    let s = raw.trim_matches(|c: char| c.is_ascii_whitespace());
    if s.is_empty() {
        return None;
    }
    if let Some(ip) = parse_ip(s) {
        return Some(ip_key(ip));
    }
    if let Some(mac) = parse_mac(s) {
        return Some(mac);
    }
    let lower = s.to_lowercase();
    Some(match lower.char_indices().nth(MAX_ORIGIN) {
        Some((cut, _)) => lower[..cut].to_string(),
        None => lower,
    })
}

fn parse_ip(s: &str) -> Option<IpAddr> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Some(sa.ip());
    }
    // `[v6]`, `v6%zone`, `[v6%zone]:port`.
    let inner = match s.strip_prefix('[') {
        Some(rest) => rest.split_once(']')?.0,
        None => s,
    };
    let addr = inner.split_once('%').map_or(inner, |(a, _)| a);
    addr.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
}

fn ip_key(ip: IpAddr) -> String {
    let v6 = match ip {
        IpAddr::V4(v4) => return v4.to_string(),
        IpAddr::V6(v6) => v6,
    };
    let s = v6.segments();
    let embedded = match s {
        // ::ffff:a.b.c.d (mapped), ::ffff:0:a.b.c.d (SIIT), 64:ff9b::a.b.c.d (NAT64).
        [0, 0, 0, 0, 0, 0xffff, _, _] | [0, 0, 0, 0, 0xffff, 0, _, _] => true,
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => true,
        // ::a.b.c.d (IPv4-compatible), but not :: or ::1.
        [0, 0, 0, 0, 0, 0, hi, lo] => hi != 0 || lo > 1,
        _ => false,
    };
    if embedded {
        return std::net::Ipv4Addr::from((u32::from(s[6]) << 16) | u32::from(s[7])).to_string();
    }
    if v6.is_loopback() || v6.is_unspecified() || (s[0] & 0xffc0) == 0xfe80 {
        return v6.to_string();
    }
    let net = Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
    format!("{net}/64")
}

fn parse_mac(s: &str) -> Option<String> {
    let hex: String = s
        .chars()
        .filter(|c| !matches!(c, ':' | '-' | '.'))
        .collect();
    // 001a2b3c4d5e, 001a.2b3c.4d5e, 00:1a:.. or 00-1a-..
    let shaped = matches!(s.len() - hex.len(), 0 | 2 | 5);
    if !(shaped && hex.len() == 12 && hex.chars().all(|c| c.is_ascii_hexdigit())) {
        return None;
    }
    let hex = hex.to_ascii_lowercase();
    let pairs: Vec<&str> = (0..6).map(|i| &hex[2 * i..2 * i + 2]).collect();
    Some(pairs.join(":"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> Option<String> {
        origin_key(s)
    }

    #[test]
    fn one_place_one_key() {
        for (raw, want) in [
            ("192.0.2.7", "192.0.2.7"),
            (" 192.0.2.7 ", "192.0.2.7"),
            ("192.0.2.7:51234", "192.0.2.7"),
            ("::ffff:192.0.2.7", "192.0.2.7"),
            ("[::ffff:192.0.2.7]:22", "192.0.2.7"),
            ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
            ("2001:DB8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"),
            ("[2001:db8:1:2::9]:22", "2001:db8:1:2::/64"),
            ("[2001:db8:1:2::9]", "2001:db8:1:2::/64"),
            ("fe80::1%eth0", "fe80::1"),
            ("fe80::2%wlan0", "fe80::2"),
            ("::ffff:0:192.0.2.7", "192.0.2.7"),
            ("64:ff9b::192.0.2.7", "192.0.2.7"),
            ("64:ff9b::cb00:7109", "203.0.113.9"),
            ("::192.0.2.7", "192.0.2.7"),
            ("[::ffff:192.0.2.7%1]:22", "192.0.2.7"),
            ("::1", "::1"),
            ("[::1]:22", "::1"),
            ("::", "::"),
            ("00-1A-2B-3C-4D-5E", "00:1a:2b:3c:4d:5e"),
            ("00:1a:2b:3c:4d:5e", "00:1a:2b:3c:4d:5e"),
            ("001a.2b3c.4d5e", "00:1a:2b:3c:4d:5e"),
            ("001A2B3C4D5E", "00:1a:2b:3c:4d:5e"),
            ("Host.Example.COM", "host.example.com"),
            ("+1 555 0100", "+1 555 0100"),
        ] {
            assert_eq!(key(raw).as_deref(), Some(want), "{raw:?}");
        }
    }

    #[test]
    fn blank_says_nothing() {
        assert_eq!(key(""), None);
        assert_eq!(key("   "), None);
        assert_eq!(key("\t"), None);
        // Not ASCII white space: text, not "no address".
        assert_eq!(key("\u{3000}").as_deref(), Some("\u{3000}"));
    }

    #[test]
    fn not_quite_a_mac_stays_text_and_long_text_is_cut() {
        assert_eq!(key("00-1a-2b-3c-4d").as_deref(), Some("00-1a-2b-3c-4d"));
        assert_eq!(key("00:1a:2b-3c4d5e").as_deref(), Some("00:1a:2b-3c4d5e"));
        let long = "x".repeat(500);
        assert_eq!(key(&long).unwrap().chars().count(), MAX_ORIGIN);
        let wide = "é".repeat(500);
        assert_eq!(key(&wide).unwrap().chars().count(), MAX_ORIGIN);
    }
}
