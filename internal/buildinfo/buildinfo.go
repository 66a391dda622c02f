// Package buildinfo holds the version stamped into the binary at build time
// with -ldflags "-X github.com/regcase/regcase/internal/buildinfo.Version=…".
package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// Set at build time; the defaults describe a development build.
var (
	Version = "dev"
	Commit  = ""
	Date    = ""
)

// Info is the build description served at /version.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	BuildTime string `json:"build_time"`
	GoVersion string `json:"go_version"`
}

// Get returns the build info, falling back to the VCS stamp of the module.
func Get() Info {
	i := Info{Version: Version, Commit: Commit, BuildTime: Date, GoVersion: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && i.Commit == "":
				i.Commit = s.Value
			case s.Key == "vcs.time" && i.BuildTime == "":
				i.BuildTime = s.Value
			}
		}
	}
	if i.Commit == "" {
		i.Commit = "unknown"
	}
	if i.BuildTime == "" {
		i.BuildTime = "unknown"
	}
	return i
}
