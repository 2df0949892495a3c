//! `router_settings.redis_host`, `redis_port`, `redis_password`, `redis_url`: the Redis on which
//! deployments' rpm/tpm are counted across gateways, read as LiteLLM reads these keys.
//!
//! Each value may be a literal or `os.environ/VAR`. Variables are read when `serve` connects
//! ([`Redis::url`]), not when the file is checked, so `validate` works where they are unset
//! (LiteLLM's own example configs name `os.environ/REDIS_HOST`). As in LiteLLM, `redis_url`
//! wins over host, port and password.

use super::fields::{self, Fields};
use super::{Ctx, Secret};

/// redis-py's (and so LiteLLM's) port when none is given.
pub const DEFAULT_REDIS_PORT: u16 = 6379;

/// Where the shared counters live. `Debug` never shows the password or the URL's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redis {
    pub host: Option<Secret>,
    pub port: Option<Secret>,
    pub password: Option<Secret>,
    /// `redis://[:password@]host[:port][/db]` or `rediss://…` (TLS); may hold a password.
    pub url: Option<Secret>,
}

impl Redis {
    /// The URL to connect to, with variables read now. Errors name the key to fix.
    pub fn url(&self) -> Result<String, String> {
        let read = |key: &str, s: &Secret| {
            s.resolve().ok_or_else(|| match s {
                Secret::Env(var) => {
                    format!("router_settings.{key} refers to environment variable {var}, which is not set; set it where `serve` runs")
                }
                Secret::Literal(_) => format!("router_settings.{key} is empty"),
            })
        };
        if let Some(url) = &self.url {
            let url = read("redis_url", url)?;
            check_url_scheme(&url).map_err(|e| format!("router_settings.redis_url {e}"))?;
            return Ok(url);
        }
        let host = read("redis_host", self.host.as_ref().ok_or("router_settings.redis_host is not set")?)?;
        let port = match &self.port {
            Some(p) => parse_port(&read("redis_port", p)?).map_err(|e| format!("router_settings.redis_port {e}"))?,
            None => DEFAULT_REDIS_PORT,
        };
        let host = if host.contains(':') && !host.starts_with('[') { format!("[{host}]") } else { host };
        Ok(match &self.password {
            Some(p) => format!("redis://:{}@{host}:{port}/", percent_encode(&read("redis_password", p)?)),
            None => format!("redis://{host}:{port}/"),
        })
    }

    /// `{host, port}` for `validate --json` (never the password): from `redis_url` or
    /// `redis_host`/`redis_port`, with variables read now. `None` when a variable is unset.
    pub fn host_port(&self) -> Option<(String, u16)> {
        let url = self.url().ok()?;
        let rest = url.split_once("://")?.1;
        let authority = rest.split(['/', '?']).next()?;
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
        let (host, port) = match host_port.strip_prefix('[') {
            Some(v6) => {
                let (host, after) = v6.split_once(']')?;
                (host, after.strip_prefix(':'))
            }
            None => match host_port.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (host_port, None),
            },
        };
        let port = match port {
            Some(p) => parse_port(p).ok()?,
            None => DEFAULT_REDIS_PORT,
        };
        Some((host.to_string(), port))
    }
}

fn parse_port(text: &str) -> Result<u16, String> {
    match text.trim().parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!("must be a port number from 1 to 65535, got '{}'", text.trim())),
    }
}

fn check_url_scheme(url: &str) -> Result<(), String> {
    if ["redis://", "rediss://", "unix://", "redis+unix://"].iter().any(|s| url.starts_with(s)) {
        Ok(())
    } else {
        Err("must start with redis://, rediss:// (TLS) or unix://".into())
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters, for a password in a URL.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Reads the redis keys of `router_settings`. `None` when neither `redis_url` nor `redis_host`
/// is given (counting stays in `serve`'s memory); the others alone are warned about.
pub(crate) fn parse(ctx: &mut Ctx, f: &Fields<'_>) -> Option<Redis> {
    let mut secret = |key: &str| f.value(key).and_then(|v| fields::secret(ctx, &format!("router_settings.{key}"), v));
    let redis = Redis {
        host: secret("redis_host"),
        port: secret("redis_port"),
        password: secret("redis_password"),
        url: secret("redis_url"),
    };
    if let (Some(Secret::Literal(port)), Some(node)) = (&redis.port, f.value("redis_port")) {
        if let Err(e) = parse_port(port) {
            ctx.error(node.pos, format!("router_settings.redis_port {e}"));
        }
    }
    if let (Some(Secret::Literal(url)), Some(node)) = (&redis.url, f.value("redis_url")) {
        if let Err(e) = check_url_scheme(url) {
            ctx.error(node.pos, format!("router_settings.redis_url {e}"));
        }
    }
    if redis.url.is_some() {
        for key in ["redis_host", "redis_port", "redis_password"] {
            if let Some((k, _)) = f.get(key) {
                ctx.warn(k.pos, format!("router_settings.{key} ignored: redis_url is given and wins (as in LiteLLM)"));
            }
        }
        return Some(redis);
    }
    if redis.host.is_none() {
        for key in ["redis_port", "redis_password"] {
            if let Some((k, _)) = f.get(key) {
                ctx.warn(k.pos, format!("router_settings.{key} ignored without redis_host; add redis_host (or redis_url) to count rpm/tpm on Redis"));
            }
        }
        return None;
    }
    Some(redis)
}

#[cfg(test)]
mod tests {
    use crate::config::{load_str, Secret};

    fn load(router: &str) -> Result<crate::config::Loaded, Vec<crate::config::Diagnostic>> {
        let yaml = format!(
            "model_list:\n  - model_name: m\n    litellm_params:\n      model: openai/gpt-4o\n      api_base: http://127.0.0.1:1/v1\n      region_name: us-west-2\nrouter_settings:\n{router}"
        );
        load_str(&yaml, "f.yaml")
    }

    #[test]
    fn host_port_and_password_make_a_url_with_the_password_encoded() {
        let l = load("  redis_host: cache.internal\n  redis_port: 6380\n  redis_password: 'p@ss:w/rd'\n").unwrap();
        let redis = l.config.router.redis.expect("redis");
        assert_eq!(redis.url().unwrap(), "redis://:p%40ss%3Aw%2Frd@cache.internal:6380/");
        assert_eq!(redis.host_port(), Some(("cache.internal".into(), 6380)));
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
        assert!(!format!("{redis:?}").contains("p@ss"));
    }

    #[test]
    fn redis_url_wins_and_host_port_comes_from_it_without_the_password() {
        let l = load("  redis_url: 'rediss://:secret@10.0.0.5:7000/2'\n  redis_host: other\n").unwrap();
        let redis = l.config.router.redis.expect("redis");
        assert_eq!(redis.url().unwrap(), "rediss://:secret@10.0.0.5:7000/2");
        assert_eq!(redis.host_port(), Some(("10.0.0.5".into(), 7000)));
        assert_eq!(l.warnings.len(), 1);
        assert!(l.warnings[0].to_string().starts_with("f.yaml:9:3: warning: router_settings.redis_host ignored"));
    }

    #[test]
    fn environment_references_are_read_when_connecting_not_when_checking() {
        let l = load(
            "  redis_host: os.environ/H5_TEST_REDIS_HOST_UNSET\n  redis_port: os.environ/H5_TEST_REDIS_PORT_UNSET\n",
        )
        .unwrap();
        let redis = l.config.router.redis.expect("redis");
        assert_eq!(redis.host, Some(Secret::Env("H5_TEST_REDIS_HOST_UNSET".into())));
        let err = redis.url().unwrap_err();
        assert!(err.contains("H5_TEST_REDIS_HOST_UNSET") && err.contains("not set"), "{err}");
        assert_eq!(redis.host_port(), None);
    }

    #[test]
    fn a_bad_port_or_scheme_is_an_error_at_its_position_and_no_host_means_no_redis() {
        let e = load("  redis_host: h\n  redis_port: 70000\n").unwrap_err();
        assert!(
            e.iter().any(|d| d.to_string()
                == "f.yaml:9:15: router_settings.redis_port must be a port number from 1 to 65535, got '70000'"),
            "{e:?}"
        );
        let e = load("  redis_url: http://h:1\n").unwrap_err();
        assert!(e.iter().any(|d| d.to_string().contains("redis_url must start with redis://")), "{e:?}");
        let l = load("  redis_port: 6379\n").unwrap();
        assert_eq!(l.config.router.redis, None);
        assert!(l.warnings.iter().any(|w| w.message.contains("redis_port ignored without redis_host")));
        assert_eq!(load("  num_retries: 1\n").unwrap().config.router.redis, None);
    }
}
