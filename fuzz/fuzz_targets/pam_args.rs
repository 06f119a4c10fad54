//! The PAM module's arguments (NUL-separated, as libpam hands them over): the order does not
//! matter, what parses names an absolute configuration path, and errors print no control
//! characters into syslog.
#![no_main]

use pam_tessera::args;

libfuzzer_sys::fuzz_target!(|text: &str| {
    let items: Vec<&str> = text.split('\0').filter(|s| !s.is_empty()).collect();
    let mut reversed = items.clone();
    reversed.reverse();
    match (args::parse(&items), args::parse(&reversed)) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a, b);
            assert!(a.config.is_none_or(|c| c.is_absolute()));
        }
        (Err(e), Err(_)) => {
            let shown = e.to_string();
            assert!(!shown.chars().any(char::is_control), "{shown:?}");
        }
        (a, b) => panic!("order changes the outcome: {a:?} / {b:?}"),
    }
});
