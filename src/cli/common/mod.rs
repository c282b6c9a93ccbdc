//! What the commands share, apart from the commands themselves: the connection to the cluster
//! (`client`, `endpoints`), how answers are printed (`output`, `views`, `wire`), reading a
//! cluster description (`load`) and checking its fence agents where they are installed
//! (`fence_agents`), the local cluster's layout (`local`), waiting for a move (`wait`) and
//! following the cluster's events (`follow`).

pub mod client;
pub mod endpoints;
pub mod fence_agents;
pub mod follow;
pub mod load;
pub mod local;
pub mod output;
pub mod views;
pub mod wait;
pub mod wire;
