//! Names the manifests carry: the Job's (given, or made from the scenario's name) and the
//! namespace, checked as Kubernetes checks them, so a bad one fails here and not at `apply`.

/// The longest DNS-1123 label (a namespace, a Job's name, a pod's hostname).
const MAX_LABEL_LEN: usize = 63;

/// Whether `name` is a DNS-1123 label: lowercase letters, digits and '-', starting and ending
/// with a letter or digit, 1 to 63 characters.
fn is_dns_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    let edge_ok = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    !name.is_empty()
        && name.len() <= MAX_LABEL_LEN
        && edge_ok(bytes.first())
        && edge_ok(bytes.last())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

/// The longest Job name for `shards` pods: an Indexed Job's pod is named for its hostname
/// `<job>-<index>`, which must stay a DNS-1123 label.
pub fn max_job_name_len(shards: u32) -> usize {
    let widest_index = shards.saturating_sub(1).to_string().len();
    MAX_LABEL_LEN - 1 - widest_index
}

/// Checks a `--name`.
pub fn check_job_name(name: &str, shards: u32) -> Result<(), String> {
    let max = max_job_name_len(shards);
    if !is_dns_label(name) || name.len() > max {
        return Err(format!(
            "--name {name:?}: a Job name is lowercase letters, digits and '-', starting and \
             ending with a letter or digit, at most {max} characters with {shards} shards"
        ));
    }
    Ok(())
}

/// Checks a `--namespace`.
pub fn check_namespace(namespace: &str) -> Result<(), String> {
    if !is_dns_label(namespace) {
        return Err(format!(
            "--namespace {namespace:?}: a namespace is lowercase letters, digits and '-', \
             starting and ending with a letter or digit, at most {MAX_LABEL_LEN} characters"
        ));
    }
    Ok(())
}

/// `wschaos-<scenario name>` made into a valid Job name: lowercased, every other character
/// turned into '-', runs of '-' folded, cut to fit `shards` pods.
pub fn default_job_name(scenario_name: &str, shards: u32) -> String {
    let mut slug = String::new();
    for c in scenario_name.chars().map(|c| c.to_ascii_lowercase()) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let mut name = if slug.is_empty() {
        "wschaos".to_string()
    } else {
        format!("wschaos-{slug}")
    };
    name.truncate(max_job_name_len(shards));
    while name.ends_with('-') {
        name.pop();
    }
    name
}

/// Checks an `--image`: present, no whitespace or control characters.
pub fn check_image(image: &str) -> Result<(), String> {
    if image.is_empty() || image.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "--image {image:?}: an image reference like registry.example/wschaos:0.1 (no spaces)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_labels_are_checked_as_kubernetes_does() {
        for good in ["a", "wschaos-flaky", "x1", &"a".repeat(63)] {
            assert!(is_dns_label(good), "{good}");
        }
        for bad in ["", "-a", "a-", "A", "a_b", "a.b", "é", &"a".repeat(64)] {
            assert!(!is_dns_label(bad), "{bad}");
        }
        assert!(check_namespace("load-tests").is_ok());
        let err = check_namespace("Load").expect_err("uppercase");
        assert!(err.starts_with("--namespace \"Load\": "), "{err}");
    }

    #[test]
    fn the_job_name_leaves_room_for_the_widest_index() {
        assert_eq!(max_job_name_len(1), 61);
        assert_eq!(max_job_name_len(10), 61);
        assert_eq!(max_job_name_len(11), 60);
        assert_eq!(max_job_name_len(100), 60);
        assert_eq!(max_job_name_len(101), 59);
        assert!(check_job_name(&"a".repeat(61), 4).is_ok());
        let err = check_job_name(&"a".repeat(61), 11).expect_err("too long");
        assert!(
            err.contains("at most 60 characters with 11 shards"),
            "{err}"
        );
        assert!(check_job_name("Bad_Name", 4).is_err());
    }

    #[test]
    fn the_default_name_comes_from_the_scenario() {
        assert_eq!(default_job_name("flaky", 4), "wschaos-flaky");
        assert_eq!(
            default_job_name("My Soak__Test!", 4),
            "wschaos-my-soak-test"
        );
        assert_eq!(default_job_name("", 4), "wschaos");
        assert_eq!(default_job_name("--", 4), "wschaos");
        let long = default_job_name(&"x".repeat(100), 100);
        assert_eq!(long.len(), max_job_name_len(100));
        assert!(
            check_job_name(
                &default_job_name("a-very-long-name-".repeat(5).as_str(), 8),
                8
            )
            .is_ok()
        );
    }

    #[test]
    fn an_image_has_no_spaces() {
        assert!(check_image("example/wschaos:1").is_ok());
        assert!(check_image("").is_err());
        assert!(check_image("a b").is_err());
    }
}
