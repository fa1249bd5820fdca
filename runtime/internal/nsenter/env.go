package nsenter

// The environment variables of the protocol (see the package doc).
const (
	EnvSync    = "_LAMINA_NSENTER"
	EnvJoin    = "_LAMINA_NSENTER_JOIN"
	EnvUnshare = "_LAMINA_NSENTER_UNSHARE"
	EnvTimeNS  = "_LAMINA_NSENTER_TIMENS"
)
