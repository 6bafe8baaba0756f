//! Topics and tool names as NATS subjects, and the headers that carry what
//! witplug knows of a message or a call across hosts.

/// The plugin that published a message.
pub const FROM: &str = "Witplug-From";
/// How many plugins passed the message on (or the call's message), so a
/// loop is cut across hosts as it is within one.
pub const HOPS: &str = "Witplug-Hops";
/// The publishing host, so a subscriber tells hosts' sequences apart.
pub const ORIGIN: &str = "Witplug-Origin";
/// The message's number in its host's sequence for its topic: a gap is a
/// message lost on the way, counted by the subscriber.
pub const SEQ: &str = "Witplug-Seq";
/// The plugins waiting on a tool call, comma-separated, first caller first.
pub const CHAIN: &str = "Witplug-Chain";
/// How many milliseconds the caller still waits for a tool's answer.
pub const TIMEOUT_MS: &str = "Witplug-Timeout-Ms";
/// On a tool's answer: the kind of the WIT `error` it carries in its
/// payload; absent on success.
pub const ERROR: &str = "Witplug-Error";

/// The longest subject witplug publishes on: the server refuses a control
/// line (`HPUB <subject> <reply> <sizes>`) over 4 KiB by default, and the
/// rest of the line needs room too.
pub const MAX_SUBJECT: usize = 3 * 1024;

/// Checks that `name` (a topic or a tool) under `prefix` makes a subject
/// short enough for the server, before anything is published.
pub fn check_length(prefix: &str, name: &str) -> Result<(), String> {
    let length = prefix.len() + name.len();
    if length > MAX_SUBJECT {
        return Err(format!(
            "its NATS subject would be {length} bytes, over the {MAX_SUBJECT} a server takes"
        ));
    }
    Ok(())
}

/// The hop count a peer's `Witplug-Hops` header gives. A message without
/// one came from a plain NATS client (hop 0); a header that is not a
/// number, or is past the loop cut, is taken at the cut, so a forged one
/// can neither overflow nor slip a loop past it.
pub fn hops(header: Option<&str>) -> u32 {
    match header {
        None => 0,
        Some(text) => text
            .trim()
            .parse::<u32>()
            .map_or(crate::bus::MAX_HOPS, |hops| hops.min(crate::bus::MAX_HOPS)),
    }
}

/// Checks the prefixes of topics and tools: neither empty, and neither
/// inside the other, so no subject is both a topic and a tool.
pub fn check_prefixes(topics: &str, tools: &str) -> Result<(), String> {
    if topics.is_empty() || tools.is_empty() {
        return Err("a subject prefix is empty: every host on the server would share \
                    its subjects with everything else there"
            .to_owned());
    }
    for prefix in [topics, tools] {
        check_topic(prefix.strip_suffix('.').unwrap_or(prefix))
            .map_err(|reason| format!("the prefix `{prefix}`: {reason}"))?;
    }
    if topics.starts_with(tools) || tools.starts_with(topics) {
        return Err(format!(
            "the topic prefix `{topics}` and the tool prefix `{tools}` overlap: a topic \
             would be a tool's subject"
        ));
    }
    Ok(())
}

/// Why `token` cannot be one token of a subject, if it cannot.
fn check_token(token: &str) -> Result<(), String> {
    if token.is_empty() {
        return Err("it has an empty segment (`..`, or a `.` at an end)".to_owned());
    }
    if let Some(c) = token.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("it contains {c:?}, which a NATS subject cannot hold"));
    }
    if token.contains(['*', '>']) {
        return Err("`*` and `>` are NATS wildcards: only a final `.*` (or `*` alone) is a \
                    witplug pattern"
            .to_owned());
    }
    Ok(())
}

/// Checks that a topic (or tool name) maps to one NATS subject.
pub fn check_topic(topic: &str) -> Result<(), String> {
    topic.split('.').try_for_each(check_token)
}

/// Checks that a witplug pattern (`orders.created`, `orders.*`, `*`) has a
/// NATS equivalent.
pub fn check_pattern(pattern: &str) -> Result<(), String> {
    match pattern {
        "*" => Ok(()),
        _ => check_topic(pattern.strip_suffix(".*").unwrap_or(pattern)),
    }
}

/// The subject of `topic` under `prefix` (which ends in `.`).
pub fn topic_subject(prefix: &str, topic: &str) -> String {
    format!("{prefix}{topic}")
}

/// The subject a witplug pattern subscribes to: `orders.*`, which matches
/// one segment or more after `orders.`, is NATS's `orders.>`.
pub fn pattern_subject(prefix: &str, pattern: &str) -> String {
    match pattern {
        "*" => format!("{prefix}>"),
        _ => match pattern.strip_suffix(".*") {
            Some(stem) => format!("{prefix}{stem}.>"),
            None => format!("{prefix}{pattern}"),
        },
    }
}

/// The topic a subject under `prefix` carries.
pub fn topic_of<'a>(prefix: &str, subject: &'a str) -> Option<&'a str> {
    subject.strip_prefix(prefix)
}

/// `patterns` without those another one covers, so no message arrives
/// twice through two NATS subscriptions of one witplug subscription.
pub fn minimal(patterns: &[String]) -> Vec<String> {
    let covers = |wide: &str, narrow: &str| {
        wide != narrow
            && (wide == "*"
                || wide.strip_suffix('*').is_some_and(|stem| {
                    stem.ends_with('.') && narrow != "*" && narrow.starts_with(stem)
                }))
    };
    let mut kept: Vec<String> = Vec::new();
    for pattern in patterns {
        let covered = patterns.iter().any(|other| covers(other, pattern));
        if !covered && !kept.contains(pattern) {
            kept.push(pattern.clone());
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_become_subjects_with_the_same_meaning() {
        assert_eq!(pattern_subject("witplug.", "orders.created"), "witplug.orders.created");
        assert_eq!(pattern_subject("witplug.", "orders.*"), "witplug.orders.>");
        assert_eq!(pattern_subject("witplug.", "*"), "witplug.>");
        assert_eq!(topic_of("witplug.", "witplug.orders.eu.new"), Some("orders.eu.new"));
    }

    #[test]
    fn what_nats_cannot_express_is_refused_with_a_reason() {
        assert!(check_pattern("orders.*").is_ok());
        assert!(check_pattern("*").is_ok());
        assert!(check_pattern("orders.*.created").unwrap_err().contains("wildcards"));
        assert!(check_pattern("orders>").unwrap_err().contains("wildcards"));
        assert!(check_pattern("ord ers").unwrap_err().contains("' '"));
        assert!(check_pattern("orders..x").unwrap_err().contains("empty segment"));
        assert!(check_topic("orders.").unwrap_err().contains("empty segment"));
        assert!(check_topic("orders.*").is_err());
    }

    #[test]
    fn forged_hop_counts_are_taken_at_the_cut() {
        assert_eq!(hops(None), 0);
        assert_eq!(hops(Some("3")), 3);
        assert_eq!(hops(Some("4294967295")), crate::bus::MAX_HOPS);
        assert_eq!(hops(Some("99999999999999999999")), crate::bus::MAX_HOPS);
        assert_eq!(hops(Some("-1")), crate::bus::MAX_HOPS);
        assert_eq!(hops(Some("lots")), crate::bus::MAX_HOPS);
    }

    #[test]
    fn prefixes_are_neither_empty_nor_overlapping() {
        assert!(check_prefixes("witplug.", "witplug-tool.").is_ok());
        assert!(check_prefixes("", "witplug-tool.").unwrap_err().contains("empty"));
        assert!(check_prefixes("a.", "a.tools.").unwrap_err().contains("overlap"));
        assert!(check_prefixes("a.b.", "a.").unwrap_err().contains("overlap"));
        assert!(check_prefixes("a b.", "c.").is_err());
        assert!(check_length("witplug.", &"x".repeat(MAX_SUBJECT)).is_err());
        assert!(check_length("witplug.", "orders").is_ok());
    }

    #[test]
    fn covered_patterns_are_subscribed_once() {
        let patterns = ["a.b", "a.*", "a.b.*", "c", "a.*", "ab.x"].map(String::from);
        assert_eq!(minimal(&patterns), ["a.*", "c", "ab.x"]);
        assert_eq!(minimal(&["x".into(), "*".into()]), ["*"]);
    }
}
