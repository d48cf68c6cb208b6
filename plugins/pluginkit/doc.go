// Package pluginkit is the plugin side of the CNI protocol for weir's own
// plugins, and the invoker that runs any plugin for a runtime or a delegating
// plugin.
//
// A weir plugin implements Plugin: typed Add/Del/Check/GC/Status functions
// that take the parsed CNI arguments explicitly. Dispatch turns a CNI
// invocation (environment + stdin) into a call and the call's outcome into the
// bytes a plugin prints, so the multi-call binary (Main) and the in-process
// path (Exec) share one implementation and give identical results.
//
// Exec implements libcni's invoke.Exec: a plugin file that is weir's own
// binary is called in-process through Dispatch, with the same stdin, env and
// stdout contract and no fork; any other file is executed in its own process
// group, which is killed when the context ends.
package pluginkit
