//! Capacity: what providers say about their own limits, and the wire format of the fleet-wide
//! limit check.
//!
//! - [`provider_cooldown`]: how long a deployment that answered 429 or 503 asked to be left
//!   alone (`retry-after`, `retry-after-ms`, `x-ms-retry-after-ms`, OpenAI's
//!   `x-ratelimit-reset-*`, Anthropic's `anthropic-ratelimit-*-reset`), capped by
//!   [`MAX_PROVIDER_COOLDOWN_MS`].
//! - [`share_factor`]: a 2xx answer's remaining-quota headers as a factor (0, 1] for the
//!   deployment's share of traffic, so it is used less before it starts to 429.
//! - [`encode_rate_limit_request`] / [`decode_rate_limit_response`]: Envoy's global rate limit
//!   protocol (`envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit`), as served by
//!   `llm-router serve`. Written by hand (a few protobuf field writes and reads) so that the wasm
//!   module carries no generated message types; the control plane's tests check both against the
//!   prost types of `envoy-types`.

use std::time::UNIX_EPOCH;

/// Milliseconds a deployment should be skipped for.
pub type CooldownMs = u64;

/// The longest cooldown a provider's headers can set: 5 minutes. Per-minute quotas (the ones
/// LiteLLM's rpm/tpm describe) reset within 60 s and Azure's `retry-after` stays well under
/// this; a longer value is a daily quota or a bad header, and a deployment hidden for hours on
/// one header's word is worse than one probe request every 5 minutes (a new 429 starts a new
/// cooldown).
pub const MAX_PROVIDER_COOLDOWN_MS: CooldownMs = 300_000;

/// The gRPC service and method the filter calls (`dispatch_grpc_call`).
pub const RATE_LIMIT_SERVICE: &str = "envoy.service.ratelimit.v3.RateLimitService";
pub const RATE_LIMIT_METHOD: &str = "ShouldRateLimit";
/// The `domain` of every request; the service counts nothing for another domain.
pub const RATE_LIMIT_DOMAIN: &str = "llm_router";
/// Descriptor entry keys: `llm_deployment=<deployment id>`, `llm_limit=rpm|tpm`.
pub const DEPLOYMENT_KEY: &str = "llm_deployment";
pub const LIMIT_KEY: &str = "llm_limit";
/// With [`SENT`]: the hits are attempts already sent (admitted from the gateway's recent view
/// of the count); the service counts them whatever the budget says.
pub const COUNT_KEY: &str = "llm_count";
pub const SENT: &str = "sent";

fn header<'h, K: AsRef<str>, V: AsRef<str>>(headers: &'h [(K, V)], name: &str) -> Option<&'h str> {
    headers.iter().find(|(k, _)| k.as_ref().eq_ignore_ascii_case(name)).map(|(_, v)| v.as_ref().trim())
}

/// The cooldown a provider's 429 or 503 asks for, in milliseconds from `now_unix_ms`: the
/// longest of the signals that apply, at most [`MAX_PROVIDER_COOLDOWN_MS`]. `None` for other
/// statuses and when no signal is present or readable (the caller then uses `cooldown_time`).
///
/// - 429 and 503: `retry-after` (seconds, or an HTTP date), `retry-after-ms`,
///   `x-ms-retry-after-ms` (Azure).
/// - 429 only (a 503 is an outage, not a spent quota): OpenAI's `x-ratelimit-reset-requests` /
///   `-tokens` (Go durations: `6m0s`, `1s`, `20ms`) and Anthropic's
///   `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-reset` (RFC 3339 times),
///   each only when its quota is the spent one: its `…-remaining` header is `0` or absent (OpenAI
///   sends both resets on every answer; the unspent one's reset says nothing about this 429).
pub fn provider_cooldown<K: AsRef<str>, V: AsRef<str>>(
    status: u16,
    headers: &[(K, V)],
    now_unix_ms: u64,
) -> Option<CooldownMs> {
    if status != 429 && status != 503 {
        return None;
    }
    let mut longest: Option<u64> = None;
    let mut take = |ms: Option<u64>| {
        if let Some(ms) = ms {
            longest = Some(longest.map_or(ms, |l| l.max(ms)));
        }
    };
    take(header(headers, "retry-after").and_then(|v| retry_after_ms(v, now_unix_ms)));
    take(header(headers, "retry-after-ms").and_then(parse_millis));
    take(header(headers, "x-ms-retry-after-ms").and_then(parse_millis));
    if status == 429 {
        for kind in ["requests", "tokens"] {
            if spent(header(headers, &format!("x-ratelimit-remaining-{kind}"))) {
                take(header(headers, &format!("x-ratelimit-reset-{kind}")).and_then(go_duration_ms));
            }
        }
        for kind in ["requests", "tokens", "input-tokens", "output-tokens"] {
            if spent(header(headers, &format!("anthropic-ratelimit-{kind}-remaining"))) {
                let reset = header(headers, &format!("anthropic-ratelimit-{kind}-reset"));
                take(reset.and_then(rfc3339_unix_ms).map(|at| at.saturating_sub(now_unix_ms)));
            }
        }
    }
    longest.map(|ms| ms.min(MAX_PROVIDER_COOLDOWN_MS))
}

/// A quota whose remaining count is 0, or not given (then its reset is taken at its word).
fn spent(remaining: Option<&str>) -> bool {
    remaining.is_none_or(|r| r.parse::<f64>().is_ok_and(|n| n <= 0.0))
}

/// `retry-after`: delay-seconds (a fraction is accepted) or an HTTP date (RFC 9110's three
/// forms, read by `httpdate`); a date in the past is 0.
fn retry_after_ms(value: &str, now_unix_ms: u64) -> Option<u64> {
    if let Some(ms) = seconds_ms(value) {
        return Some(ms);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    let at_ms = u64::try_from(at.duration_since(UNIX_EPOCH).ok()?.as_millis()).ok()?;
    Some(at_ms.saturating_sub(now_unix_ms))
}

/// A non-negative finite number of seconds, in milliseconds.
fn seconds_ms(value: &str) -> Option<u64> {
    let s: f64 = value.parse().ok()?;
    (s.is_finite() && s >= 0.0).then(|| (s * 1000.0).min(u64::MAX as f64).ceil() as u64)
}

/// A non-negative finite number of milliseconds.
fn parse_millis(value: &str) -> Option<u64> {
    let ms: f64 = value.parse().ok()?;
    (ms.is_finite() && ms >= 0.0).then(|| ms.min(u64::MAX as f64).ceil() as u64)
}

/// A Go `time.Duration` string as OpenAI sends it (`6m0s`, `1.5s`, `20ms`, `1h2m`), in
/// milliseconds. Hand-written: no small crate reads Go's form with fractions (`humantime`
/// refuses `1.5s`); it is a loop over number-unit pairs.
fn go_duration_ms(value: &str) -> Option<u64> {
    let mut rest = value;
    if rest.is_empty() {
        return None;
    }
    if rest == "0" {
        return Some(0);
    }
    let mut total_ms = 0.0_f64;
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let number: f64 = rest.get(..number_len)?.parse().ok()?;
        rest = rest.get(number_len..)?;
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let unit_ms = match rest.get(..unit_len)? {
            "h" => 3_600_000.0,
            "m" => 60_000.0,
            "s" => 1_000.0,
            "ms" => 1.0,
            "us" | "µs" | "μs" => 0.001,
            "ns" => 0.000_001,
            _ => return None,
        };
        rest = rest.get(unit_len..)?;
        total_ms += number * unit_ms;
    }
    total_ms.is_finite().then(|| total_ms.min(u64::MAX as f64).ceil() as u64)
}

/// An RFC 3339 time (`2024-10-23T15:04:05Z`, `…05.5+02:00`) as Unix milliseconds. Hand-written:
/// `httpdate` reads only HTTP dates, and a date-time crate (chrono, time) is much larger than
/// this one format needs in the wasm module.
fn rfc3339_unix_ms(value: &str) -> Option<u64> {
    let b = value.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let s = value.get(from..from + len)?;
        s.bytes().all(|c| c.is_ascii_digit()).then(|| s.parse().ok())?
    };
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    let seps = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if !seps.iter().all(|&(i, c)| b.get(i) == Some(&c)) || !matches!(b.get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut i = 19;
    let mut millis = 0_i64;
    if b.get(i) == Some(&b'.') {
        let digits = b.get(i + 1..)?.iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        let frac = value.get(i + 1..i + 1 + digits.min(3))?;
        millis = frac.parse::<i64>().ok()? * 10_i64.pow(3 - digits.min(3) as u32);
        i += 1 + digits;
    }
    let offset_s = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) if i + 6 == b.len() && b.get(i + 3) == Some(&b':') => {
            let (oh, om) = (num(i + 1, 2)?, num(i + 4, 2)?);
            let offset = oh * 3600 + om * 60;
            if sign == b'+' {
                offset
            } else {
                -offset
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let unix_s = days * 86_400 + hour * 3600 + minute * 60 + second - offset_s;
    u64::try_from(unix_s * 1000 + millis).ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Below this fraction of a quota left, a deployment's share of traffic shrinks.
pub const LOW_REMAINING_FRACTION: f64 = 0.1;
/// The smallest share [`share_factor`] gives: a deployment near its limit still gets some
/// traffic, so its next answer's headers show when the quota has reset.
pub const MIN_SHARE_FACTOR: f64 = 0.05;

/// A 2xx answer's remaining-quota headers as a factor for the deployment's share of traffic:
/// 1.0 while at least [`LOW_REMAINING_FRACTION`] of every quota is left, then falling with the
/// fraction left, down to [`MIN_SHARE_FACTOR`] at 0. Read: OpenAI's (and Azure's)
/// `x-ratelimit-remaining-{requests,tokens}` with `x-ratelimit-limit-…`, Anthropic's
/// `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{remaining,limit}`; the
/// lowest fraction wins. `None` when the answer has no such pair (keep what was known).
pub fn share_factor<K: AsRef<str>, V: AsRef<str>>(headers: &[(K, V)]) -> Option<f64> {
    let number = |name: &str| header(headers, name).and_then(|v| v.parse::<f64>().ok()).filter(|n| n.is_finite());
    let mut lowest: Option<f64> = None;
    let mut pair = |remaining: String, limit: String| {
        if let (Some(r), Some(l)) = (number(&remaining), number(&limit)) {
            if l > 0.0 {
                let fraction = (r / l).clamp(0.0, 1.0);
                lowest = Some(lowest.map_or(fraction, |f| f.min(fraction)));
            }
        }
    };
    for kind in ["requests", "tokens"] {
        pair(format!("x-ratelimit-remaining-{kind}"), format!("x-ratelimit-limit-{kind}"));
    }
    for kind in ["requests", "tokens", "input-tokens", "output-tokens"] {
        pair(format!("anthropic-ratelimit-{kind}-remaining"), format!("anthropic-ratelimit-{kind}-limit"));
    }
    let fraction = lowest?;
    Some((fraction / LOW_REMAINING_FRACTION).clamp(MIN_SHARE_FACTOR, 1.0))
}

/// Which per-minute budget a descriptor names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    /// Attempts sent to the deployment.
    Rpm,
    /// Input + output tokens of its answers.
    Tpm,
}

impl LimitKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LimitKind::Rpm => "rpm",
            LimitKind::Tpm => "tpm",
        }
    }
}

/// One descriptor of a check: a deployment's rpm or tpm budget and how much to count.
///
/// `hits`: 1 for an attempt about to be sent (rpm; refused and not counted when the budget is
/// spent), the answer's tokens for a tpm settlement (always counted: they were used), 0 to
/// only look (the status says whether one more would fit). `sent`: the rpm hits are attempts
/// already admitted and sent, settled like tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitCheck<'a> {
    pub deployment: &'a str,
    pub kind: LimitKind,
    pub hits: u64,
    pub sent: bool,
}

/// A `RateLimitRequest` for the domain [`RATE_LIMIT_DOMAIN`], one descriptor per check, each
/// with its own `hits_addend` (the descriptor's `UInt64Value`, so 0 means "look only"; the
/// request-level field would read 0 as 1).
pub fn encode_rate_limit_request(checks: &[LimitCheck<'_>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + checks.len() * 64);
    write_bytes(&mut out, 1, RATE_LIMIT_DOMAIN.as_bytes());
    for check in checks {
        let mut descriptor = Vec::with_capacity(48 + check.deployment.len());
        let count = check.sent.then_some((COUNT_KEY, SENT));
        let entries = [(DEPLOYMENT_KEY, check.deployment), (LIMIT_KEY, check.kind.as_str())];
        for (key, value) in entries.into_iter().chain(count) {
            let mut entry = Vec::with_capacity(key.len() + value.len() + 4);
            write_bytes(&mut entry, 1, key.as_bytes());
            write_bytes(&mut entry, 2, value.as_bytes());
            write_bytes(&mut descriptor, 1, &entry);
        }
        let mut hits = Vec::with_capacity(11);
        if check.hits != 0 {
            write_varint_field(&mut hits, 1, check.hits);
        }
        write_bytes(&mut descriptor, 3, &hits);
        write_bytes(&mut out, 2, &descriptor);
    }
    out
}

/// One descriptor's answer, in the order of the checks sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LimitStatus {
    /// The budget is spent: skip the deployment until `reset_ms` has passed.
    pub over_limit: bool,
    /// What is left of the budget this minute; `None` when the service knows no limit for it
    /// (no rpm/tpm configured, or its counting backend failed and it answered OK).
    pub remaining: Option<u64>,
    /// The budget per minute, when known.
    pub limit: Option<u64>,
    /// Milliseconds until the current minute's window ends (for `Retry-After`).
    pub reset_ms: Option<u64>,
}

/// A decoded `RateLimitResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LimitAnswer {
    /// `overall_code == OVER_LIMIT`: some descriptor's budget is spent.
    pub over_limit: bool,
    pub statuses: Vec<LimitStatus>,
}

/// Reads a `RateLimitResponse`: the overall code and each descriptor status's code,
/// `limit_remaining`, `current_limit.requests_per_unit` and `duration_until_reset`. `None` when
/// the bytes are not a well-formed message (the caller fails open). Unknown fields are skipped.
pub fn decode_rate_limit_response(bytes: &[u8]) -> Option<LimitAnswer> {
    const OVER_LIMIT: u64 = 2;
    let mut answer = LimitAnswer::default();
    for field in Fields::new(bytes) {
        match field? {
            (1, Value::Varint(code)) => answer.over_limit = code == OVER_LIMIT,
            (2, Value::Bytes(status)) => {
                let mut s = LimitStatus::default();
                let mut has_limit = false;
                for field in Fields::new(status) {
                    match field? {
                        (1, Value::Varint(code)) => s.over_limit = code == OVER_LIMIT,
                        (2, Value::Bytes(limit)) => {
                            has_limit = true;
                            for field in Fields::new(limit) {
                                if let (1, Value::Varint(per_unit)) = field? {
                                    s.limit = Some(per_unit);
                                }
                            }
                        }
                        (3, Value::Varint(remaining)) => s.remaining = Some(remaining),
                        (4, Value::Bytes(duration)) => s.reset_ms = Some(duration_ms(duration)?),
                        _ => {}
                    }
                }
                // proto3 drops a zero `limit_remaining`: with a known limit, absent means 0.
                if has_limit && s.remaining.is_none() {
                    s.remaining = Some(0);
                }
                answer.statuses.push(s);
            }
            _ => {}
        }
    }
    Some(answer)
}

/// A `google.protobuf.Duration` in milliseconds (rounded up, so a `Retry-After` is never short).
fn duration_ms(bytes: &[u8]) -> Option<u64> {
    let (mut seconds, mut nanos) = (0_u64, 0_u64);
    for field in Fields::new(bytes) {
        match field? {
            (1, Value::Varint(s)) => seconds = s,
            (2, Value::Varint(n)) => nanos = n,
            _ => {}
        }
    }
    // Negative durations (as two's complement varints) make no sense here: refuse them.
    if seconds > i64::MAX as u64 || nanos >= 1_000_000_000 {
        return None;
    }
    Some(seconds.saturating_mul(1000).saturating_add(nanos.div_ceil(1_000_000)))
}

fn write_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn write_varint_field(out: &mut Vec<u8>, field: u32, v: u64) {
    write_varint(out, u64::from(field) << 3);
    write_varint(out, v);
}

fn write_bytes(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    write_varint(out, (u64::from(field) << 3) | 2);
    write_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// A protobuf field's value: the two wire types read here (fixed32/64 are skipped).
enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

/// The fields of one protobuf message, in order; yields `None` once on malformed input.
struct Fields<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> Fields<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Fields { rest: bytes, failed: false }
    }

    fn varint(&mut self) -> Option<u64> {
        let mut v = 0_u64;
        for (i, &b) in self.rest.iter().enumerate().take(10) {
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                self.rest = self.rest.get(i + 1..)?;
                return Some(v);
            }
        }
        None
    }

    fn take(&mut self, n: u64) -> Option<&'a [u8]> {
        let n = usize::try_from(n).ok()?;
        let taken = self.rest.get(..n)?;
        self.rest = self.rest.get(n..)?;
        Some(taken)
    }

    fn field(&mut self) -> Option<(u64, Value<'a>)> {
        let key = self.varint()?;
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => self.take(8).map(|_| Value::Fixed)?,
            2 => {
                let len = self.varint()?;
                Value::Bytes(self.take(len)?)
            }
            5 => self.take(4).map(|_| Value::Fixed)?,
            _ => return None,
        };
        Some((key >> 3, value))
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Option<(u64, Value<'a>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let field = self.field();
        self.failed = field.is_none();
        Some(field)
    }
}

/// `Retry-After` seconds for a client when every allowed deployment is spent or cooling down:
/// the first moment one of them is available again, rounded up to whole seconds, at least 1.
pub fn retry_after_seconds(wait_ms: impl IntoIterator<Item = u64>) -> u64 {
    let first = wait_ms.into_iter().min().unwrap_or(1000);
    first.div_ceil(1000).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_729_695_845_000; // 2024-10-23T15:04:05Z

    fn h(pairs: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        pairs.to_vec()
    }

    #[test]
    fn retry_after_seconds_and_http_dates_set_the_cooldown_on_429_and_503() {
        assert_eq!(provider_cooldown(429, &h(&[("Retry-After", "4")]), NOW), Some(4_000));
        assert_eq!(provider_cooldown(503, &h(&[("retry-after", "1.5")]), NOW), Some(1_500));
        let date = h(&[("retry-after", "Wed, 23 Oct 2024 15:04:35 GMT")]);
        assert_eq!(provider_cooldown(429, &date, NOW), Some(30_000));
        let past = h(&[("retry-after", "Wed, 23 Oct 2024 15:00:00 GMT")]);
        assert_eq!(provider_cooldown(429, &past, NOW), Some(0));
        assert_eq!(provider_cooldown(500, &h(&[("retry-after", "4")]), NOW), None);
        assert_eq!(provider_cooldown(200, &h(&[("retry-after", "4")]), NOW), None);
        assert_eq!(provider_cooldown(429, &h(&[("retry-after", "soon")]), NOW), None);
        assert_eq!(provider_cooldown(429, &h(&[("retry-after", "-3")]), NOW), None);
        assert_eq!(provider_cooldown(429, &h(&[]), NOW), None);
    }

    #[test]
    fn millisecond_headers_and_the_longest_signal_win() {
        assert_eq!(provider_cooldown(429, &h(&[("retry-after-ms", "250")]), NOW), Some(250));
        assert_eq!(provider_cooldown(503, &h(&[("x-ms-retry-after-ms", "1200")]), NOW), Some(1_200));
        let both = h(&[("retry-after", "1"), ("x-ms-retry-after-ms", "2500")]);
        assert_eq!(provider_cooldown(429, &both, NOW), Some(2_500));
    }

    #[test]
    fn openai_resets_count_only_for_the_spent_quota_and_only_on_429() {
        let tokens_spent = h(&[
            ("x-ratelimit-remaining-requests", "59"),
            ("x-ratelimit-reset-requests", "6m0s"),
            ("x-ratelimit-remaining-tokens", "0"),
            ("x-ratelimit-reset-tokens", "1.5s"),
        ]);
        assert_eq!(provider_cooldown(429, &tokens_spent, NOW), Some(1_500));
        assert_eq!(provider_cooldown(503, &tokens_spent, NOW), None);
        let no_remaining = h(&[("x-ratelimit-reset-requests", "20ms")]);
        assert_eq!(provider_cooldown(429, &no_remaining, NOW), Some(20));
        let long = h(&[("x-ratelimit-remaining-requests", "0"), ("x-ratelimit-reset-requests", "1h2m3s")]);
        assert_eq!(provider_cooldown(429, &long, NOW), Some(MAX_PROVIDER_COOLDOWN_MS));
    }

    #[test]
    fn go_durations_read_like_go_writes_them() {
        assert_eq!(go_duration_ms("6m0s"), Some(360_000));
        assert_eq!(go_duration_ms("1s"), Some(1_000));
        assert_eq!(go_duration_ms("20ms"), Some(20));
        assert_eq!(go_duration_ms("1.5s"), Some(1_500));
        assert_eq!(go_duration_ms("1h2m3.5s"), Some(3_723_500));
        assert_eq!(go_duration_ms("500us"), Some(1));
        assert_eq!(go_duration_ms("0"), Some(0));
        for bad in ["", "s", "5", "5x", "1..5s", "m5"] {
            assert_eq!(go_duration_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn anthropic_resets_are_rfc3339_times_of_the_spent_quota() {
        let headers = h(&[
            ("anthropic-ratelimit-requests-remaining", "10"),
            ("anthropic-ratelimit-requests-reset", "2024-10-23T15:05:05Z"),
            ("anthropic-ratelimit-output-tokens-remaining", "0"),
            ("anthropic-ratelimit-output-tokens-reset", "2024-10-23T15:04:17.250Z"),
        ]);
        assert_eq!(provider_cooldown(429, &headers, NOW), Some(12_250));
        let offset = h(&[("anthropic-ratelimit-tokens-reset", "2024-10-23T17:04:15+02:00")]);
        assert_eq!(provider_cooldown(429, &offset, NOW), Some(10_000));
    }

    #[test]
    fn rfc3339_times_match_known_unix_times_and_refuse_junk() {
        assert_eq!(rfc3339_unix_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(rfc3339_unix_ms("2024-10-23T15:04:05Z"), Some(NOW));
        assert_eq!(rfc3339_unix_ms("2000-02-29T12:00:00.5Z"), Some(951_825_600_500));
        assert_eq!(rfc3339_unix_ms("2024-10-23T15:04:05-01:30"), Some(NOW + 5_400_000));
        for bad in [
            "",
            "2024-10-23",
            "2024-13-01T00:00:00Z",
            "2024-10-23T15:04:05",
            "2024-10-23T15:04:05Zjunk",
            "2024-10-23T15:04:05.Z",
            "1969-12-31T23:59:59Z",
        ] {
            assert_eq!(rfc3339_unix_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn share_factor_falls_below_a_tenth_of_the_quota_left() {
        let plenty = h(&[("x-ratelimit-remaining-tokens", "50000"), ("x-ratelimit-limit-tokens", "100000")]);
        assert_eq!(share_factor(&plenty), Some(1.0));
        let low = h(&[
            ("x-ratelimit-remaining-requests", "90"),
            ("x-ratelimit-limit-requests", "100"),
            ("x-ratelimit-remaining-tokens", "5000"),
            ("x-ratelimit-limit-tokens", "100000"),
        ]);
        assert_eq!(share_factor(&low), Some(0.5));
        let spent = h(&[("anthropic-ratelimit-tokens-remaining", "0"), ("anthropic-ratelimit-tokens-limit", "80000")]);
        assert_eq!(share_factor(&spent), Some(MIN_SHARE_FACTOR));
        assert_eq!(share_factor(&h(&[("x-ratelimit-remaining-tokens", "10")])), None);
        assert_eq!(share_factor(&h(&[("x-ratelimit-remaining-tokens", "0"), ("x-ratelimit-limit-tokens", "0")])), None);
        assert_eq!(share_factor(&h(&[])), None);
    }

    #[test]
    fn a_request_encodes_each_descriptor_with_its_own_hits() {
        let bytes =
            encode_rate_limit_request(&[LimitCheck { deployment: "d1", kind: LimitKind::Rpm, hits: 1, sent: false }]);
        let mut want = vec![0x0a, 10];
        want.extend_from_slice(b"llm_router");
        // descriptor: two entries, then hits_addend {value: 1}
        let entry1 = [&[0x0a, 14][..], b"llm_deployment", &[0x12, 2], b"d1"].concat();
        let entry2 = [&[0x0a, 9][..], b"llm_limit", &[0x12, 3], b"rpm"].concat();
        let descriptor =
            [&[0x0a, entry1.len() as u8][..], &entry1, &[0x0a, entry2.len() as u8], &entry2, &[0x1a, 2, 0x08, 1]]
                .concat();
        want.extend_from_slice(&[0x12, descriptor.len() as u8]);
        want.extend_from_slice(&descriptor);
        assert_eq!(bytes, want);
        // A look-up still sends hits_addend, empty (value 0), so it is not read as 1.
        let look =
            encode_rate_limit_request(&[LimitCheck { deployment: "d1", kind: LimitKind::Tpm, hits: 0, sent: false }]);
        assert!(look.ends_with(&[0x1a, 0]), "{look:?}");
    }

    #[test]
    fn a_response_decodes_codes_remaining_limits_and_resets() {
        // overall OVER_LIMIT; status 1 OK remaining 7 of 20, reset 59.5 s; status 2 OVER_LIMIT
        // with limit 20 and no remaining (proto3 drops 0), reset 12 s.
        let s1 = [&[0x08, 1, 0x12, 2, 0x08, 20, 0x18, 7, 0x22, 8, 0x08, 59, 0x10][..], &[0x80, 0xca, 0xb5, 0xee, 0x01]]
            .concat();
        let s2 = [0x08, 2, 0x12, 2, 0x08, 20, 0x22, 2, 0x08, 12];
        let bytes = [&[0x08, 2, 0x12, s1.len() as u8][..], &s1, &[0x12, s2.len() as u8], &s2].concat();
        let a = decode_rate_limit_response(&bytes).unwrap();
        assert!(a.over_limit);
        assert_eq!(
            a.statuses,
            vec![
                LimitStatus { over_limit: false, remaining: Some(7), limit: Some(20), reset_ms: Some(59_500) },
                LimitStatus { over_limit: true, remaining: Some(0), limit: Some(20), reset_ms: Some(12_000) },
            ]
        );
        assert_eq!(decode_rate_limit_response(&[]), Some(LimitAnswer::default()));
        assert_eq!(decode_rate_limit_response(&[0x12, 5, 0x08]), None);
        assert_eq!(decode_rate_limit_response(&[0x0f]), None);
    }

    #[test]
    fn decoding_never_panics_on_any_bytes() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        for len in 0..400 {
            let bytes: Vec<u8> = (0..len % 40)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed as u8
                })
                .collect();
            let _ = decode_rate_limit_response(&bytes);
        }
    }

    #[test]
    fn retry_after_is_the_first_availability_in_whole_seconds() {
        assert_eq!(retry_after_seconds([4_200, 12_000]), 5);
        assert_eq!(retry_after_seconds([0]), 1);
        assert_eq!(retry_after_seconds(std::iter::empty()), 1);
    }
}
