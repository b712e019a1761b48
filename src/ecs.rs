//! Elastic Common Schema fields, opt-in (`fields.ecs: true`), for SIEMs that expect ECS:
//! `event.action`, `event.outcome`, `user.name`, `user.email`, `source.ip`,
//! `user_agent.original` and `orchestrator.cluster.name`, written as nested objects beside
//! the default fields (an existing object of the same name, such as an audit event's
//! `user`, gains the ECS member).

use crate::json::Edits;

/// The ECS values of one record, filled by the stream that understood it.
#[derive(Debug, Default)]
pub struct Ecs {
    pub action: String,
    /// `success`, `failure`, or empty when not known.
    pub outcome: &'static str,
    pub user_name: String,
    pub user_email: String,
    pub source_ip: String,
    pub user_agent: String,
}

impl Ecs {
    pub fn clear(&mut self) {
        self.action.clear();
        self.outcome = "";
        self.user_name.clear();
        self.user_email.clear();
        self.source_ip.clear();
        self.user_agent.clear();
    }

    /// Adds the known values (and the cluster name) to `edits`.
    pub fn write(&self, cluster: Option<&str>, edits: &mut Edits) {
        let fields = [
            (["event", "action"], self.action.as_str()),
            (["event", "outcome"], self.outcome),
            (["user", "name"], self.user_name.as_str()),
            (["user", "email"], self.user_email.as_str()),
            (["source", "ip"], self.source_ip.as_str()),
            (["user_agent", "original"], self.user_agent.as_str()),
        ];
        for (path, value) in fields.into_iter().filter(|(_, v)| !v.is_empty()) {
            edits.set_path_str(&path, value);
        }
        if let Some(name) = cluster.filter(|c| !c.is_empty()) {
            edits.set_path_str(&["orchestrator", "cluster", "name"], name);
        }
    }
}

/// `event.outcome` of an HTTP status code.
pub fn http_outcome(code: u16) -> &'static str {
    if code < 400 { "success" } else { "failure" }
}
