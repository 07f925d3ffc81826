package main

import (
	"runtime/debug"
	"strings"
)

// version describes the build, from its build information: the module
// version ("(devel)" for a build in the repository), the VCS revision when
// it was recorded, and the Go version.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var details []string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			details = append(details, "commit "+s.Value)
		case "vcs.modified":
			if s.Value == "true" {
				details = append(details, "modified")
			}
		}
	}
	details = append(details, bi.GoVersion)
	return v + " (" + strings.Join(details, ", ") + ")"
}
