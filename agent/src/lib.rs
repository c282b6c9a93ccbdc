//! The per-node agent of nonstop (the MSCS resource monitor): it follows the desired state the
//! controller leader sends, drives each resource's lifecycle through its `ResourceHandler`, holds
//! the lease that fences this node when the leader is lost, and reports every transition.
