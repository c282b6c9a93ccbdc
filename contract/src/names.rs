//! What a name may be. A name (of a node, type, group, resource, cousin set or service) is a key
//! in the database, a word on the command line, and for a node a folder: `nonstop up` keeps a
//! node's files in `DIR/<node>/`. So a name starts with a letter or a digit (never `.`, `..` or
//! something that reads as an option, like `-rf`) and holds no `/`, space or control character.

/// The longest name, in characters.
pub const NAME_MAX: usize = 63;

/// The rule, as error messages state it.
pub const NAME_RULE: &str =
    "use 1 to 63 letters, digits, '_', '-', '.' or ':', starting with a letter or a digit";

/// Whether `name` follows [`NAME_RULE`]: 1 to 63 ASCII letters, digits, `_`, `-`, `.` and `:`
/// (OCF type names are `ocf:heartbeat:Dummy`), the first a letter or a digit.
pub fn is_safe_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= NAME_MAX
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn i10_8_a_safe_name_is_one_folder_and_never_an_option() {
        for good in [
            "a",
            "osdb-serv",
            "SOCKET_GROUP",
            "ocf:heartbeat:Dummy",
            "n1.b",
            "9x",
        ] {
            assert!(is_safe_name(good), "{good}");
        }
        let long = "a".repeat(NAME_MAX + 1);
        for bad in [
            "", ".", "..", "../x", "a/b", "-rf", "_x", ":x", ".hidden", "a b", "a\u{1b}b", "é",
            &long,
        ] {
            assert!(!is_safe_name(bad), "{bad:?}");
        }
    }
}
