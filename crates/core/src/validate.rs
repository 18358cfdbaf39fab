//! Rules for user-supplied values. Each failure names the field, so the HTTP layer can answer 422
//! with it.

use crate::error::{Error, Result};

pub const USERNAME_MIN: usize = 3;
pub const USERNAME_MAX: usize = 64;
pub const FULL_NAME_MAX: usize = 200;
pub const EMAIL_MAX: usize = 254;
pub const PASSWORD_MAX_BYTES: usize = 1024;

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
    Ok(s.to_lowercase())
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

/// Length in bytes between the configured minimum and 1,024 (Argon2 cost does not depend on it,
/// but an unbounded input is a denial-of-service lever).
pub fn password(field: &str, s: &str, min_len: usize) -> Result<()> {
    if s.len() < min_len {
        return Err(Error::validation(
            field,
            format!("must be at least {min_len} bytes"),
        ));
    }
    if s.len() > PASSWORD_MAX_BYTES {
        return Err(Error::validation(
            field,
            format!("must be at most {PASSWORD_MAX_BYTES} bytes"),
        ));
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

    #[test]
    fn passwords_and_names() {
        assert!(password("password", "1234567", 8).is_err());
        assert!(password("password", "12345678", 8).is_ok());
        assert!(password("password", &"x".repeat(1025), 8).is_err());
        assert!(full_name(&"x".repeat(201)).is_err());
        assert!(full_name("Zoë O'Brien").is_ok());
        assert!(role_name("auditor").is_ok());
        assert!(role_name("Auditor").is_err());
    }
}
