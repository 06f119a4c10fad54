//! Helpers shared by the end-to-end tests: where the built binaries are, temporary Tessera
//! installations, and codes from an independent implementation (oathtool).
#![forbid(unsafe_code)]
// Test-support code: a failed fixture must stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The cargo target profile directory the tests were built into (`target/debug`).
pub fn target_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("TESSERA_TARGET_DIR") {
        return PathBuf::from(d);
    }
    // The test executable lives in target/<profile>/deps/.
    let exe = std::env::current_exe().unwrap_or_default();
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("target/debug"))
}

/// A binary of the workspace. The test script builds the workspace before the tests run.
pub fn bin(name: &str) -> PathBuf {
    let p = target_dir().join(name);
    assert!(
        p.exists(),
        "{} is missing: run `cargo build --workspace` first (scripts/test.sh does)",
        p.display()
    );
    p
}

/// The built PAM module.
pub fn pam_module() -> PathBuf {
    bin("libpam_tessera.so")
}

/// Is a system program installed? Tests that need one fail with a clear message when not:
/// scripts/test.sh installs them all.
pub fn require(program: &str) -> PathBuf {
    for dir in ["/usr/bin", "/usr/sbin", "/bin", "/sbin", "/usr/local/bin"] {
        let p = Path::new(dir).join(program);
        if p.exists() {
            return p;
        }
    }
    panic!("{program} is not installed: run scripts/test.sh, which installs the test peers");
}

/// A throwaway Tessera installation: a config, a key and a database in a temp dir.
pub struct Install {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
}

impl Install {
    /// Write a config (fast Argon2 parameters for debug builds) plus `extra` TOML, and run
    /// `tessera init`.
    pub fn new(extra: &str) -> Install {
        Install::with_store("", extra)
    }

    /// Like [`Install::new`], with more `[store]` keys (e.g. `busy_timeout = "300ms"`).
    pub fn with_store(store_extra: &str, extra: &str) -> Install {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("tessera.toml");
        let text = format!(
            "[store]\npath = \"{d}/db/tessera.db\"\nkey_file = \"{d}/tessera.key\"\n{store_extra}\n\n[argon2]\nmemory_kib = 256\niterations = 1\n\n{extra}\n",
            d = dir.path().display()
        );
        std::fs::write(&config, text).expect("write config");
        let install = Install { dir, config };
        let out = install.tessera(&["init"]);
        assert!(
            out.status.success(),
            "tessera init failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        install
    }

    /// Run the `tessera` CLI on this installation.
    pub fn tessera(&self, args: &[&str]) -> Output {
        Command::new(bin("tessera"))
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .env_remove("TESSERA_CONFIG")
            .output()
            .expect("run tessera")
    }

    /// Run the CLI with `--json` and parse its stdout; panics with stderr when it fails.
    pub fn tessera_json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.tessera(&all);
        assert!(
            out.status.success(),
            "tessera {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("tessera --json printed JSON")
    }

    /// Add a user with an active TOTP factor; returns (base32 secret, recovery codes).
    pub fn enroll_totp(&self, user: &str) -> (String, Vec<String>) {
        let out = self.tessera(&["user", "add", user]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v = self.tessera_json(&["enroll", "totp", user, "--no-confirm"]);
        let secret = v["secret"].as_str().expect("secret").to_string();
        let codes = v["recovery_codes"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|c| c.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        (secret, codes)
    }
}

/// The TOTP code of `secret_b32` at now + `offset_secs`, computed by oathtool (an
/// implementation nobody here wrote).
pub fn oathtool_code(secret_b32: &str, offset_secs: i64) -> String {
    let oathtool = require("oathtool");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let out = Command::new(oathtool)
        .args(["--totp", "--base32", "-N"])
        .arg(format!("@{}", now + offset_secs))
        .arg(secret_b32)
        .output()
        .expect("run oathtool");
    assert!(
        out.status.success(),
        "oathtool: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
