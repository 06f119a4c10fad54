//! `gateway = "http"`: one request per text through ureq (blocking, rustls with ring as for
//! mail). TLS is always verified; no redirect is followed (the secret would travel to wherever
//! it points); no proxy from the environment (the PAM module's environment is the caller's);
//! the whole exchange, from DNS to the answer's last byte read, within `[sms] timeout`; at most
//! 64 KiB of the answer read. ureq looks the host up on a thread of its own, which ends when the
//! resolver answers (at once for a literal address), even past the timeout.

use std::io::Read;
use std::time::Duration;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig, TlsProvider};
use zeroize::Zeroizing;

use super::{SmsError, Texter, check_input, digits, first_line};
use crate::base::text::fill_template;
use crate::config::{HttpAuth, HttpBody, HttpGateway, HttpMethod};

/// The most of an answer read (for `success_contains` and the error's excerpt).
pub const MAX_REPLY: u64 = 64 * 1024;

/// Characters left as they are in a URL's path or query: RFC 3986's unreserved ones (so `+`,
/// `&`, `=`, `/`, `?` and `#` in a value are always encoded).
const URL_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// application/x-www-form-urlencoded: what the WHATWG serializer leaves (space becomes `+`).
const FORM_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'*')
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b' ');

pub struct HttpTexter {
    agent: ureq::Agent,
    gateway: HttpGateway,
    timeout: Duration,
}

impl HttpTexter {
    pub fn new(gateway: &HttpGateway, timeout: Duration) -> Result<HttpTexter, SmsError> {
        // The built-in (Mozilla) roots, and those of `ca_file` besides.
        let mut roots: Vec<Certificate<'static>> = webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .map(|c| Certificate::from_der(c.as_ref()))
            .collect();
        if let Some(path) = &gateway.ca_file {
            let ca_error = |why: String| SmsError::CaFile {
                path: path.clone(),
                why,
            };
            let pem = std::fs::read(path).map_err(|e| ca_error(e.to_string()))?;
            let before = roots.len();
            for item in ureq::tls::parse_pem(&pem) {
                if let PemItem::Certificate(c) = item.map_err(|e| ca_error(e.to_string()))? {
                    roots.push(c);
                }
            }
            if roots.len() == before {
                return Err(ca_error("holds no PEM certificate".to_string()));
            }
        }
        let roots = RootCerts::new_with_certs(&roots);
        let tls = TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .root_certs(roots)
            .build();
        let config = ureq::Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .max_redirects(0)
            .proxy(None)
            .timeout_global(Some(timeout))
            .user_agent("tessera")
            .build();
        Ok(HttpTexter {
            agent: ureq::Agent::new_with_config(config),
            gateway: gateway.clone(),
            timeout,
        })
    }

    /// The URL and the body (content type, bytes) for one text.
    fn request(
        &self,
        number: &str,
        message: &str,
    ) -> (Zeroizing<String>, Option<(&'static str, Zeroizing<String>)>) {
        let encoded = |v: &str| utf8_percent_encode(v, URL_VALUE).to_string();
        let (n, d, m) = (
            encoded(number),
            encoded(digits(number)),
            Zeroizing::new(encoded(message)),
        );
        let url = Zeroizing::new(fill_template(&self.gateway.url, |name| match name {
            "number" => Some(n.as_str()),
            "digits" => Some(d.as_str()),
            "message" => Some(m.as_str()),
            _ => None,
        }));
        let raw = |name: &str| match name {
            "number" => Some(number),
            "digits" => Some(digits(number)),
            "message" => Some(message),
            _ => None,
        };
        let body = match &self.gateway.body {
            HttpBody::None => None,
            HttpBody::Form(fields) => {
                let mut out = Zeroizing::new(String::new());
                for (i, (field, template)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push('&');
                    }
                    out.push_str(&form_encode(field));
                    out.push('=');
                    let value = Zeroizing::new(fill_template(template, raw));
                    out.push_str(&form_encode(&value));
                }
                Some(("application/x-www-form-urlencoded", out))
            }
            HttpBody::Json(template) => {
                let (n, d, m) = (
                    json_escape(number),
                    json_escape(digits(number)),
                    Zeroizing::new(json_escape(message)),
                );
                let filled = Zeroizing::new(fill_template(template, |name| match name {
                    "number" => Some(n.as_str()),
                    "digits" => Some(d.as_str()),
                    "message" => Some(m.as_str()),
                    _ => None,
                }));
                Some(("application/json", filled))
            }
        };
        (url, body)
    }

    fn error(&self, e: ureq::Error) -> SmsError {
        let gateway = self.gateway.origin.clone();
        match e {
            ureq::Error::Timeout(_) => SmsError::Timeout {
                gateway,
                timeout: self.timeout,
            },
            ureq::Error::Io(io) => {
                match io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                    Some(tls) => SmsError::Tls {
                        gateway,
                        why: tls.to_string(),
                    },
                    None if is_timeout(&io) => SmsError::Timeout {
                        gateway,
                        timeout: self.timeout,
                    },
                    None => SmsError::Connection {
                        gateway,
                        why: io.to_string(),
                    },
                }
            }
            ureq::Error::Tls(why) => SmsError::Tls {
                gateway,
                why: why.to_string(),
            },
            ureq::Error::Rustls(e) => SmsError::Tls {
                gateway,
                why: e.to_string(),
            },
            ureq::Error::Pem(e) => SmsError::Tls {
                gateway,
                why: e.to_string(),
            },
            // These quote the URL, which may hold a token.
            ureq::Error::BadUri(_) | ureq::Error::Http(_) => SmsError::Connection {
                gateway,
                why: "the URL is not valid once the number and message are filled in".into(),
            },
            other => SmsError::Connection {
                gateway,
                why: other.to_string(),
            },
        }
    }
}

impl HttpTexter {
    /// An error while the answer was read: ureq's own, wrapped, or the socket's.
    fn read_error(&self, e: std::io::Error) -> SmsError {
        let kind = e.kind();
        if is_timeout(&e) {
            return self.error(ureq::Error::Io(e));
        }
        match e.into_inner().map(|inner| inner.downcast::<ureq::Error>()) {
            Some(Ok(inner)) => self.error(*inner),
            _ => SmsError::Connection {
                gateway: self.gateway.origin.clone(),
                why: format!("the answer could not be read ({kind})"),
            },
        }
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
    )
}

/// `value` form-urlencoded: unreserved characters kept, space as `+`, the rest `%XX`.
fn form_encode(value: &str) -> String {
    utf8_percent_encode(value, FORM_VALUE)
        .to_string()
        .replace(' ', "+")
}

/// `value` as the inside of a JSON string (no quotes around it).
fn json_escape(value: &str) -> String {
    let quoted = serde_json::Value::String(value.to_string()).to_string();
    quoted[1..quoted.len() - 1].to_string()
}

fn authorize<B>(request: ureq::RequestBuilder<B>, auth: &HttpAuth) -> ureq::RequestBuilder<B> {
    use base64ct::Encoding;
    match auth {
        HttpAuth::None => request,
        HttpAuth::Basic { username, password } => {
            let pair = Zeroizing::new(format!("{username}:{}", password.expose()));
            let value = Zeroizing::new(format!(
                "Basic {}",
                base64ct::Base64::encode_string(pair.as_bytes())
            ));
            request.header("Authorization", value.as_str())
        }
        HttpAuth::Bearer(token) => {
            let value = Zeroizing::new(format!("Bearer {}", token.expose()));
            request.header("Authorization", value.as_str())
        }
    }
}

impl Texter for HttpTexter {
    fn send(&self, number: &str, message: &str) -> Result<(), SmsError> {
        check_input(number, message)?;
        let (url, body) = self.request(number, message);
        let auth = &self.gateway.auth;
        let sent = match (self.gateway.method, &body) {
            (HttpMethod::Get, _) => authorize(self.agent.get(url.as_str()), auth).call(),
            (method, None) => {
                let request = match method {
                    HttpMethod::Put => self.agent.put(url.as_str()),
                    _ => self.agent.post(url.as_str()),
                };
                authorize(request, auth).send_empty()
            }
            (method, Some((content_type, bytes))) => {
                let request = match method {
                    HttpMethod::Put => self.agent.put(url.as_str()),
                    _ => self.agent.post(url.as_str()),
                };
                authorize(request, auth)
                    .header("Content-Type", *content_type)
                    .send(bytes.as_bytes())
            }
        };
        let mut response = sent.map_err(|e| self.error(e))?;
        let status = response.status().as_u16();
        let mut reply = Zeroizing::new(Vec::new());
        response
            .body_mut()
            .as_reader()
            .take(MAX_REPLY)
            .read_to_end(&mut reply)
            .map_err(|e| self.read_error(e))?;
        let delivered = if self.gateway.success_status.is_empty() {
            (200..300).contains(&status)
        } else {
            self.gateway.success_status.contains(&status)
        };
        if !delivered {
            return Err(SmsError::HttpStatus {
                gateway: self.gateway.origin.clone(),
                status,
                reply: first_line(&reply),
            });
        }
        if let Some(wanted) = &self.gateway.success_contains
            && !String::from_utf8_lossy(&reply).contains(wanted.as_str())
        {
            return Err(SmsError::HttpTextMissing {
                gateway: self.gateway.origin.clone(),
                status,
                reply: first_line(&reply),
            });
        }
        Ok(())
    }
}
