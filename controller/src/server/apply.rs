//! `ApplyConfig`: a cluster.yaml in, the difference against the live configuration out, and
//! (unless a dry run) that difference committed as one command.

use nonstop_proto::cluster as pb;
use tonic::{Request, Response, Status};

use super::auth::caller;
use super::cluster::ClusterApi;
use super::status::{from_apply, from_store};
use crate::config;
use crate::db::Command;
use crate::store::Store;
use crate::time::Time;

pub(super) async fn apply_config<S: Store>(
    api: &ClusterApi<S>,
    r: Request<pb::ApplyConfigRequest>,
) -> Result<Response<pb::ApplyConfigReply>, Status> {
    let user = caller(&r)?.to_string();
    let req = r.into_inner();
    let name = if req.file_name.is_empty() {
        "cluster.yaml"
    } else {
        &req.file_name
    };
    let store = api.store();
    // Resources of types `types:` does not declare are checked against what the nodes
    // discovered (their agents' meta-data, db/discovered.rs).
    let discovered = store
        .read(|db| db.discovered.clone())
        .await
        .map_err(|e| from_store(&e))?;
    let checked = config::check_with(name, &req.yaml, &discovered).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        Status::invalid_argument(lines.join("\n"))
    })?;
    let file = checked.file;
    let d = store
        .read(move |db| config::diff(db, &file))
        .await
        .map_err(|e| from_store(&e))?
        .map_err(|e| Status::failed_precondition(e.to_string()))?;
    if req.dry_run || d.is_empty() {
        let revision = store
            .read(|db| db.revision)
            .await
            .map_err(|e| from_store(&e))?;
        return Ok(Response::new(pb::ApplyConfigReply {
            changes: d.lines,
            applied: false,
            revision,
        }));
    }
    let c = store
        .propose(Command::operator(Time::now(), &user, d.op))
        .await
        .map_err(|e| from_store(&e))?;
    c.result.map_err(|e| from_apply(&e))?;
    Ok(Response::new(pb::ApplyConfigReply {
        changes: d.lines,
        applied: true,
        revision: c.revision,
    }))
}
