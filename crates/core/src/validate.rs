//! Rules for user-supplied values. Each failure names the field, so the HTTP layer can answer 422
//! with it.

use crate::error::{Error, Result};

pub const USERNAME_MIN: usize = 3;
pub const USERNAME_MAX: usize = 64;
pub const FULL_NAME_MAX: usize = 200;
pub const EMAIL_MAX: usize = 254;
/// zxcvbn looks at this many characters at most: its matching grows faster than linearly with the
/// length (100 characters of l33t symbols take ~300 ms, 40 take ~50 ms, like one Argon2 hash), and
/// a password whose first 40 characters are strong is strong.
const ZXCVBN_MAX_CHARS: usize = 40;

/// 3-64 ASCII letters, digits and `._-`. ASCII only, so look-alike Unicode names cannot exist.
/// Returns the normalized (lowercase) form used for case-insensitive uniqueness.
pub fn username(s: &str) -> Result<String> {
    let n = s.chars().count();
    if !(USERNAME_MIN..=USERNAME_MAX).contains(&n) {
        return Err(Error::validation(
            "username",
            format!("must be {USERNAME_MIN} to {USERNAME_MAX} characters"),
        ));
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(Error::validation(
            "username",
            "may contain only letters, digits, '.', '_' and '-'",
        ));
    }
    Ok(s.to_ascii_lowercase())
}

/// A pragmatic address check (one `@`, a dotted domain, no spaces or control characters).
/// Returns the normalized (lowercase) form used for case-insensitive uniqueness.
pub fn email(s: &str) -> Result<String> {
    let bad = |m: &str| Err(Error::validation("email", m));
    if s.len() > EMAIL_MAX {
        return bad("must be at most 254 characters");
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("must not contain spaces or control characters");
    }
    let Some((local, domain)) = s.rsplit_once('@') else {
        return bad("must be an address like name@example.com");
    };
    if local.is_empty() || local.len() > 64 || local.contains('@') {
        return bad("must be an address like name@example.com");
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2
        || labels.iter().any(|l| {
            l.is_empty()
                || l.len() > 63
                || l.starts_with('-')
                || l.ends_with('-')
                || !l.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
    {
        return bad("must have a valid domain like example.com");
    }
    Ok(email_norm(s))
}

/// The form in which emails are unique: Unicode NFKC (so a full-width or otherwise compatible
/// look-alike of a taken address is the same address), then lower-cased (domain and local part).
pub fn email_norm(s: &str) -> String {
    use unicode_normalization::UnicodeNormalization as _;
    s.nfkc().collect::<String>().to_lowercase()
}

pub fn full_name(s: &str) -> Result<()> {
    if s.chars().count() > FULL_NAME_MAX {
        return Err(Error::validation(
            "full_name",
            format!("must be at most {FULL_NAME_MAX} characters"),
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(Error::validation(
            "full_name",
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// The password rules (NIST SP 800-63B §3.1.1.2): a length in characters (not bytes) within the
/// configured bounds, not the user's own username or email, and a zxcvbn score of at least
/// `min_score` with the username and email as user inputs (which catches common-password lists,
/// keyboard walks and names). Every failure is `weak_password` with the reason. The zxcvbn part
/// costs up to ~50 ms of CPU: callers on the async runtime run this on the password pool.
pub fn password(
    field: &str,
    pw: &str,
    rules: &crate::settings::PasswordSettings,
    user_inputs: &[&str],
) -> Result<()> {
    let weak = |reason: String| {
        Err(Error::WeakPassword {
            field: field.to_owned(),
            reason,
        })
    };
    let n = pw.chars().count();
    if n < rules.min_length {
        return weak(format!("must be at least {} characters", rules.min_length));
    }
    if n > rules.max_length {
        return weak(format!("must be at most {} characters", rules.max_length));
    }
    let lower = pw.to_lowercase();
    if user_inputs
        .iter()
        .any(|i| !i.is_empty() && i.to_lowercase() == lower)
    {
        return weak("must not be the username or email".into());
    }
    if rules.min_score > 0 {
        let head: String = pw.chars().take(ZXCVBN_MAX_CHARS).collect();
        let estimate = zxcvbn::zxcvbn(&head, user_inputs);
        let score = u8::from(estimate.score());
        if score < rules.min_score {
            let hint = estimate
                .feedback()
                .and_then(|f| f.warning())
                .map(|w| format!(" ({w})"))
                .unwrap_or_default();
            return weak(format!(
                "is too easy to guess: strength {score} of 4, at least {} needed{hint}",
                rules.min_score
            ));
        }
    }
    Ok(())
}

/// Role names: like a permission's resource part.
pub fn role_name(s: &str) -> Result<()> {
    let ok = (1..=64).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Error::validation(
            "name",
            "must be 1-64 lowercase letters, digits, '_', '-' or '.', starting with a letter",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert_eq!(username("Alice.B-c_1").unwrap(), "alice.b-c_1");
        for bad in [
            "ab",
            "a b c",
            "аdmin",
            "admin\0",
            &"x".repeat(65),
            "x/y",
            "ädmin",
        ] {
            assert!(username(bad).is_err(), "{bad:?}");
        }
        assert!(username(&"x".repeat(64)).is_ok());
    }

    #[test]
    fn emails() {
        assert_eq!(email("Bob@Example.COM").unwrap(), "bob@example.com");
        for bad in [
            "",
            "bob",
            "bob@",
            "@example.com",
            "bob@example",
            "bo b@example.com",
            "bob@-x.com",
            "bob@ex..com",
            "a@b@c.com",
        ] {
            assert!(email(bad).is_err(), "{bad:?}");
        }
    }

    fn rules() -> crate::settings::PasswordSettings {
        crate::settings::Settings::default().passwords
    }

    fn reason(pw: &str, inputs: &[&str]) -> Option<String> {
        match password("password", pw, &rules(), inputs) {
            Ok(()) => None,
            Err(Error::WeakPassword { field, reason }) => {
                assert_eq!(field, "password");
                Some(reason)
            }
            Err(other) => panic!("{other:?}"),
        }
    }

    #[test]
    fn passwords() {
        // Length is counted in characters: 8 two-byte characters pass the minimum, 7 do not.
        assert!(reason("ñçøåþðßæ", &[]).is_none());
        assert!(reason("ñçøåþðß", &[]).unwrap().contains("at least 8"));
        assert!(reason(&"ж".repeat(1024), &[]).is_some_and(|r| r.contains("guess")));
        assert!(
            reason(&"x".repeat(1025), &[])
                .unwrap()
                .contains("at most 1024")
        );
        // The username or email itself, in any case.
        assert!(
            reason(
                "Correct.Horse.Staple@example.com",
                &["chs", "correct.horse.staple@example.com"]
            )
            .unwrap()
            .contains("username or email")
        );
        // Common passwords and keyboard walks score below 2.
        for weak in [
            "password",
            "password1",
            "12345678",
            "qwertyuiop",
            "iloveyou1",
        ] {
            assert!(
                reason(weak, &[]).is_some_and(|r| r.contains("guess")),
                "{weak}"
            );
        }
        // The username with a suffix is weak when the username is a user input.
        assert!(reason("Hieronymus1", &["hieronymus"]).is_some());
        assert!(reason("correct horse battery staple", &[]).is_none());
        // Only the head goes to zxcvbn: a strong head makes a long password strong.
        let long = format!("{}{}", "Vq7#kLp2!xZ9", "a".repeat(1000));
        assert!(reason(&long, &[]).is_none());
    }

    #[test]
    fn email_normal_form() {
        assert_eq!(email_norm("Alice@Example.COM"), "alice@example.com");
        // Full-width look-alikes fold to the ASCII address.
        assert_eq!(email_norm("ａｌｉｃｅ@example.com"), "alice@example.com");
        assert_eq!(
            email("ａｌｉｃｅ@ｅｘａｍｐｌｅ.com").unwrap(),
            "alice@example.com"
        );
    }

    #[test]
    fn names() {
        assert!(full_name(&"x".repeat(201)).is_err());
        assert!(full_name("Zoë O'Brien").is_ok());
        assert!(role_name("auditor").is_ok());
        assert!(role_name("Auditor").is_err());
    }
}
