// Package enforce is the host's policy engine: it keeps the record of every
// endpoint under policy (one index file, written atomically), and renders
// the whole host — compile every endpoint under the current policy files,
// apply the host's state and each in-namespace endpoint's state — under one
// lock, so concurrent attaches and detaches end in exactly the compiled
// state. An attach or detach whose change is local (the endpoint's port
// guard and set memberships; see patch.go) writes just that, from the
// writer's cache, when the last render compiled the same policy files; a
// property test checks that what patches leave equals a full render's. The
// policy plugin, `weir policy apply` and `weir serve` all drive it.
package enforce
