//! The audit trail in the log: one line (target `tailings_atlas::audit`; JSON with
//! `ATLAS_LOG_FORMAT=json`) for every write that changed the inventory, naming who, why and what,
//! beside the history every version keeps in the store. Refused authorizations are logged by the
//! HTTP layer under the same target.

use crate::store::{Author, Op, Streamed, Written};

/// How many site ids one line names at most (an import's line gives the counts and the versions).
const IDS_SHOWN: usize = 20;

/// Logs the writes of one transaction (edits, restores, deletes).
pub fn written(author: &Author, written: &[Written]) {
    let changed: Vec<&Written> = written.iter().filter(|w| w.op.is_some()).collect();
    if changed.is_empty() {
        return;
    }
    let ops: Vec<String> = changed
        .iter()
        .take(IDS_SHOWN)
        .map(|w| {
            let op = w.op.map_or("none", Op::as_str);
            format!("{op} {}@{}", w.id.as_str(), w.revision)
        })
        .collect();
    tracing::info!(
        target: "tailings_atlas::audit",
        event = "write",
        actor = %author.actor,
        reason = author.reason.as_deref().unwrap_or(""),
        changes = changed.len(),
        sites = %ops.join(", "),
        "inventory changed"
    );
}

/// Logs one streamed write (an import), by its counts and the versions it made.
pub fn streamed(author: &Author, s: &Streamed) {
    let Some((first, last)) = s.revisions else {
        return;
    };
    tracing::info!(
        target: "tailings_atlas::audit",
        event = "import",
        actor = %author.actor,
        reason = author.reason.as_deref().unwrap_or(""),
        changes = s.changes,
        created = s.created,
        updated = s.updated,
        restored = s.restored,
        deleted = s.deleted,
        unchanged = s.unchanged,
        first_revision = first,
        last_revision = last,
        "inventory changed"
    );
}
