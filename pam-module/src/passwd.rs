//! The account's own name, from the passwd database (NSS: files, SSSD, winbind, LDAP).
//!
//! Password modules accept spellings of a name that are not the account's (SSSD and Active
//! Directory ignore case, winbind takes `alice@realm`); the passwd database maps them to the
//! account. The module looks the user up under that name too, so no spelling of an enrolled
//! user's name reads as "not enrolled".

/// What the passwd database says of a name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Account {
    /// The account's name, when it differs from the one looked up.
    pub other_name: Option<String>,
    /// The account's uid, when the database knows the name.
    pub uid: Option<u32>,
}

/// Look `user` up. `Err`: the lookup itself failed (a directory service down), so whether the
/// account has another name is not known.
pub fn lookup(user: &str) -> Result<Account, nix::Error> {
    Ok(match nix::unistd::User::from_name(user)? {
        Some(e) => Account {
            uid: Some(e.uid.as_raw()),
            other_name: Some(e.name).filter(|n| n != user),
        },
        None => Account::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_the_database_has_under_its_own_spelling_needs_no_other() {
        assert_eq!(
            lookup("root"),
            Ok(Account {
                other_name: None,
                uid: Some(0)
            })
        );
        assert_eq!(lookup("no-such-user-tessera-test"), Ok(Account::default()));
    }
}
