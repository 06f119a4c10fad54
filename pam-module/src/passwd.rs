//! The account's own name, from the passwd database (NSS: files, SSSD, winbind, LDAP).
//!
//! Password modules accept spellings of a name that are not the account's (SSSD and Active
//! Directory ignore case, winbind takes `alice@realm`); the passwd database maps them to the
//! account. The module looks the user up under that name too, so no spelling of an enrolled
//! user's name reads as "not enrolled".

/// The passwd name of `user`, when the database knows it and it differs from `user`. `Err`: the
/// lookup itself failed (a directory service down), so whether the account has another name is
/// not known.
pub fn canonical_name(user: &str) -> Result<Option<String>, nix::Error> {
    let entry = nix::unistd::User::from_name(user)?;
    Ok(entry.map(|e| e.name).filter(|n| n != user))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_the_database_has_under_its_own_spelling_needs_no_other() {
        assert_eq!(canonical_name("root"), Ok(None));
        assert_eq!(canonical_name("no-such-user-tessera-test"), Ok(None));
    }
}
