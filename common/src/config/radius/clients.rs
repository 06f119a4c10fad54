//! One `[[radius.clients]]` entry: its address or network, its secret (read here, with a
//! warning when others can read it) and its options.

use super::*;

impl Validator<'_> {
    pub(super) fn client(
        &self,
        i: usize,
        c: RawClient,
        warnings: &mut Vec<String>,
    ) -> Result<RadiusClient, ConfigError> {
        let sec = "radius.clients";
        let name = c
            .name
            .ok_or_else(|| self.invalid_in(sec, i, "name", "is required".into()))?;
        if name.is_empty() || name.len() > 64 || name.chars().any(|ch| ch.is_control()) {
            return Err(self.invalid_in(
                sec,
                i,
                "name",
                "must be 1 to 64 characters without control characters".into(),
            ));
        }
        let address = c
            .address
            .ok_or_else(|| self.invalid_in(sec, i, "address", "is required".into()))?;
        let network = parse_network(&address).ok_or_else(|| {
            self.invalid_in(
                sec,
                i,
                "address",
                format!("{address:?} is not an IP address or a CIDR network (\"192.0.2.0/24\")"),
            )
        })?;
        if let Some(v4) = ipv4_mapped(network) {
            let v4 = match v4 {
                IpNet::V4(n) if n.prefix_len() == 32 => n.addr().to_string(),
                n => n.to_string(),
            };
            warnings.push(format!(
                "client {name:?}: address {network} is an IPv4-mapped IPv6 address; sources are \
                 matched in their IPv4 form, so it never matches: write address = \"{v4}\""
            ));
        }
        let secret = match (c.secret, c.secret_file) {
            (Some(_), Some(_)) => {
                return Err(self.invalid_in(
                    sec,
                    i,
                    "secret",
                    "give either `secret` or `secret_file`, not both".into(),
                ));
            }
            (None, None) => {
                return Err(self.invalid_in(
                    sec,
                    i,
                    "secret_file",
                    "a shared secret is required: `secret_file = \"/etc/tessera/NAME.secret\"` or `secret = \"...\"`".into(),
                ));
            }
            (Some(s), None) => {
                // As for a secret file: a secret others can read is no secret.
                if let Some((mode, who)) = self.mode.and_then(|m| Some((m, readers(m)?))) {
                    warnings.push(format!(
                        "client {name:?}: the shared secret is written inline in {}, which {who} \
                         can read (mode {:04o}); move it to a `secret_file` of mode 0600, or run \
                         `chmod 600 {}`",
                        self.path.display(),
                        mode & 0o7777,
                        self.path.display()
                    ));
                }
                Zeroizing::new(s.into_bytes())
            }
            (None, Some(file)) => {
                let file = self.path(file);
                let meta = std::fs::metadata(&file).map_err(|e| {
                    self.invalid_in(
                        sec,
                        i,
                        "secret_file",
                        format!("cannot read {}: {e}", file.display()),
                    )
                })?;
                let mode = meta.permissions().mode();
                if let Some(who) = readers(mode) {
                    warnings.push(format!(
                        "client {name:?}: secret file {} can be read by {who} (mode {:04o}); run \
                         `chmod 600 {}`",
                        file.display(),
                        mode & 0o7777,
                        file.display()
                    ));
                }
                let mut bytes = Zeroizing::new(std::fs::read(&file).map_err(|e| {
                    self.invalid_in(
                        sec,
                        i,
                        "secret_file",
                        format!("cannot read {}: {e}", file.display()),
                    )
                })?);
                while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                    bytes.pop();
                }
                bytes
            }
        };
        if secret.is_empty() || secret.len() > MAX_SECRET {
            return Err(self.invalid_in(
                sec,
                i,
                "secret",
                format!("the shared secret of client {name:?} must be 1 to {MAX_SECRET} bytes"),
            ));
        }
        if secret.len() < 16 {
            warnings.push(format!(
                "client {name:?}: the shared secret is shorter than 16 bytes; use a long random one"
            ));
        }
        let mode = match c.mode {
            None => None,
            Some(m) => Some(RadiusMode::parse(&m).ok_or_else(|| {
                self.invalid_in(
                    sec,
                    i,
                    "mode",
                    format!(
                        "{m:?} is not one of \"append\", \"challenge\", \"otp-only\", \"auto\""
                    ),
                )
            })?),
        };
        if c.require_message_authenticator == Some(false) {
            warnings.push(format!(
                "client {name:?} may omit Message-Authenticator (require_message_authenticator = false): \
                 it is open to BlastRADIUS (CVE-2024-3596); upgrade it and remove the option"
            ));
        }
        Ok(RadiusClient {
            name,
            network,
            secret: Secret::new(secret.to_vec()),
            mode,
            require_message_authenticator: c.require_message_authenticator,
        })
    }
}

/// Who besides its owner can read a file of `mode`, for the warning about a shared secret in it
/// (inline in the configuration, or a `secret_file`): one rule for both.
fn readers(mode: u32) -> Option<&'static str> {
    match (mode & 0o040 != 0, mode & 0o004 != 0) {
        (true, true) => Some("its group and other users"),
        (true, false) => Some("its group"),
        (false, true) => Some("other users"),
        (false, false) => None,
    }
}

fn parse_network(s: &str) -> Option<IpNet> {
    if let Ok(n) = s.parse::<IpNet>() {
        return Some(n.trunc());
    }
    s.parse::<IpAddr>().ok().map(IpNet::from)
}

/// The IPv4 form of a network inside `::ffff:0:0/96` (IPv4-mapped IPv6), which no source
/// matches: [`IpAddr::to_canonical`] turns every such source into IPv4 before the lookup.
fn ipv4_mapped(network: IpNet) -> Option<IpNet> {
    let IpNet::V6(n) = network else {
        return None;
    };
    let v4 = n.addr().to_ipv4_mapped()?;
    let prefix = n.prefix_len().checked_sub(96)?;
    ipnet::Ipv4Net::new(v4, prefix).ok().map(IpNet::V4)
}
