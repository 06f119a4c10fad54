//! The client table: which NAS a datagram comes from (longest matching prefix of its source
//! address), its shared secret and its settings.

use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use tessera_common::Secret;
use tessera_common::{RadiusConfig, RadiusMode};

/// A NAS allowed to ask, with its effective settings.
pub struct Client {
    pub name: String,
    pub network: IpNet,
    pub secret: Secret<Vec<u8>>,
    pub mode: RadiusMode,
    pub require_message_authenticator: bool,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Client {
            name,
            network,
            secret: _,
            mode,
            require_message_authenticator,
        } = self;
        f.debug_struct("Client")
            .field("name", name)
            .field("network", network)
            .field("mode", mode)
            .field(
                "require_message_authenticator",
                require_message_authenticator,
            )
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
pub struct Clients {
    /// Longest prefix first, so the first match is the most specific.
    list: Vec<Arc<Client>>,
}

impl Clients {
    pub fn from_config(cfg: &RadiusConfig) -> Clients {
        let mut list: Vec<Arc<Client>> = cfg
            .clients
            .iter()
            .map(|c| {
                Arc::new(Client {
                    name: c.name.clone(),
                    network: c.network,
                    secret: c.secret.clone(),
                    mode: c.mode.unwrap_or(cfg.mode),
                    require_message_authenticator: c
                        .require_message_authenticator
                        .unwrap_or(cfg.require_message_authenticator),
                })
            })
            .collect();
        list.sort_by_key(|c| std::cmp::Reverse(c.network.prefix_len()));
        Clients { list }
    }

    /// The client for a source address (IPv4-mapped IPv6 addresses match IPv4 entries).
    pub fn find(&self, ip: IpAddr) -> Option<&Arc<Client>> {
        let ip = ip.to_canonical();
        self.list.iter().find(|c| c.network.contains(&ip))
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use tessera_common::Config;

    use super::*;

    fn clients(text: &str) -> Clients {
        let c = Config::parse(Path::new("/etc/tessera/tessera.toml"), text).unwrap();
        Clients::from_config(&c.radius)
    }

    const TABLE: &str = r#"
[radius]
mode = "challenge"

[[radius.clients]]
name = "campus"
address = "10.0.0.0/8"
secret = "campus-secret"
mode = "append"

[[radius.clients]]
name = "asa"
address = "10.1.2.3"
secret = "asa-secret"
require_message_authenticator = false

[[radius.clients]]
name = "v6"
address = "2001:db8::/32"
secret = "v6-secret"
"#;

    #[test]
    fn most_specific_client_wins() {
        let t = clients(TABLE);
        assert_eq!(t.len(), 3);
        let c = t.find("10.1.2.3".parse().unwrap()).unwrap();
        assert_eq!(c.name, "asa");
        assert_eq!(c.secret.expose(), b"asa-secret");
        let c = t.find("10.9.9.9".parse().unwrap()).unwrap();
        assert_eq!(c.name, "campus");
        assert!(t.find("192.0.2.1".parse().unwrap()).is_none());
        assert_eq!(t.find("2001:db8::5".parse().unwrap()).unwrap().name, "v6");
    }

    #[test]
    fn client_settings_override_the_global_ones() {
        let t = clients(TABLE);
        let asa = t.find("10.1.2.3".parse().unwrap()).unwrap();
        assert_eq!(asa.mode, RadiusMode::Challenge);
        assert!(!asa.require_message_authenticator);
        let campus = t.find("10.9.9.9".parse().unwrap()).unwrap();
        assert_eq!(campus.mode, RadiusMode::Append);
        assert!(campus.require_message_authenticator);
    }

    #[test]
    fn ipv4_mapped_source_matches_an_ipv4_client() {
        let t = clients(TABLE);
        let c = t.find("::ffff:10.1.2.3".parse().unwrap()).unwrap();
        assert_eq!(c.name, "asa");
    }

    #[test]
    fn debug_hides_the_secret() {
        let t = clients(TABLE);
        let c = t.find("10.1.2.3".parse().unwrap()).unwrap();
        assert!(!format!("{c:?}").contains("asa-secret"));
    }
}
