package oci

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	ispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Annotation keys set by ApplyImageConfig (image-spec conversion.md).
const (
	AnnotationOS           = "org.opencontainers.image.os"
	AnnotationArchitecture = "org.opencontainers.image.architecture"
	AnnotationVariant      = "org.opencontainers.image.variant"
	AnnotationOSVersion    = "org.opencontainers.image.os.version"
	AnnotationOSFeatures   = "org.opencontainers.image.os.features"
	AnnotationAuthor       = "org.opencontainers.image.author"
	AnnotationCreated      = "org.opencontainers.image.created"
	AnnotationStopSignal   = "org.opencontainers.image.stopSignal"
	AnnotationExposedPorts = "org.opencontainers.image.exposedPorts"
)

var (
	// ErrNoCommand: neither the image nor the caller gives a command to run.
	ErrNoCommand = errors.New("no command: the image has no Entrypoint or Cmd")
	// ErrUnknownUser: Config.User (or its override) names a user or group
	// that the image's /etc/passwd or /etc/group does not have.
	ErrUnknownUser = errors.New("unknown user or group")
)

// ConvertOption configures ApplyImageConfig with the caller's overrides,
// which conversion.md calls "externally provided inputs".
type ConvertOption func(*convertOptions)

type convertOptions struct {
	entrypoint []string // nil: the image's
	cmd        []string // nil: the image's (or none, when entrypoint is set)
	env        []string
	user       *string
	cwd        *string
	volumes    bool
}

// convertDefaults holds every default of ApplyImageConfig in one place.
func convertDefaults() convertOptions {
	return convertOptions{volumes: true}
}

// WithEntrypoint replaces the image's Entrypoint. As with docker run
// --entrypoint, the image's Cmd is then dropped unless WithCmd is given too.
// An empty (non-nil) slice clears the Entrypoint.
func WithEntrypoint(args []string) ConvertOption {
	return func(o *convertOptions) { o.entrypoint = nonNil(args) }
}

// WithCmd replaces the image's Cmd (the arguments after the Entrypoint).
func WithCmd(args []string) ConvertOption {
	return func(o *convertOptions) { o.cmd = nonNil(args) }
}

// WithEnv sets environment variables over the image's: "NAME=VALUE" sets or
// replaces NAME, a bare "NAME" removes it.
func WithEnv(env []string) ConvertOption {
	return func(o *convertOptions) { o.env = append(o.env, env...) }
}

// WithUser replaces Config.User ("user", "uid", "user:group", "uid:gid").
func WithUser(user string) ConvertOption { return func(o *convertOptions) { o.user = &user } }

// WithWorkingDir replaces Config.WorkingDir.
func WithWorkingDir(dir string) ConvertOption { return func(o *convertOptions) { o.cwd = &dir } }

// WithoutVolumes skips the tmpfs mounts made for Config.Volumes.
func WithoutVolumes() ConvertOption { return func(o *convertOptions) { o.volumes = false } }

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return slices.Clone(s)
}

// ApplyImageConfig converts the image config img into spec, following
// image-spec conversion.md; spec is typically runtime-spec's default (for
// example from "lamina spec") and keeps whatever the image does not set.
// rootfs is the image's root filesystem (a mounted union or the top of an
// unpacked tree): user and group names are resolved by reading its
// /etc/passwd and /etc/group through an os.Root, so a symlink there cannot
// make lamina read a file outside rootfs. rootfs may be "" when Config.User
// is empty or numeric and no name needs resolving.
//
// What it sets:
//
//   - process.args: Entrypoint followed by Cmd (overridden by WithEntrypoint,
//     WithCmd); ErrNoCommand if that is empty.
//   - process.env: spec's entries whose names the image does not set, then
//     Config.Env, then WithEnv; HOME from /etc/passwd (or "/") when unset,
//     for the user set here or else the spec's uid.
//   - process.cwd: Config.WorkingDir (made absolute), or spec's.
//   - process.user: from Config.User (or WithUser), see resolveUser; left as
//     spec has it when both are empty.
//   - mounts: a tmpfs for each Config.Volumes path not already a mount
//     destination in spec (unless WithoutVolumes).
//   - annotations: os, architecture, variant, os.version, os.features,
//     author, created, stopSignal and exposedPorts (comma-separated, sorted)
//     under their conversion.md keys, then Config.Labels, which win.
//
// Errors wrap ErrNoCommand or ErrUnknownUser, or say why /etc/passwd or
// /etc/group could not be read safely.
func ApplyImageConfig(spec *specs.Spec, img *ispec.Image, rootfs string, opts ...ConvertOption) error {
	o := convertDefaults()
	for _, f := range opts {
		f(&o)
	}
	c := img.Config
	if spec.Process == nil {
		spec.Process = &specs.Process{}
	}
	p := spec.Process

	entrypoint, cmd := c.Entrypoint, c.Cmd
	if o.entrypoint != nil {
		entrypoint, cmd = o.entrypoint, nil
	}
	if o.cmd != nil {
		cmd = o.cmd
	}
	args := append(slices.Clone(entrypoint), cmd...)
	if len(args) == 0 {
		return ErrNoCommand
	}
	p.Args = args

	if o.cwd != nil {
		p.Cwd = absDir(*o.cwd)
	} else if c.WorkingDir != "" {
		p.Cwd = absDir(c.WorkingDir)
	}
	if p.Cwd == "" {
		p.Cwd = "/"
	}

	user := c.User
	if o.user != nil {
		user = *o.user
	}
	var home string
	if user != "" {
		u, err := resolveUser(rootfs, user)
		if err != nil {
			return err
		}
		p.User.UID, p.User.GID, p.User.AdditionalGids = u.uid, u.gid, u.additionalGids
		home = u.home
	} else if rootfs != "" {
		// The spec's own user: HOME still comes from the image's passwd
		// when it has an entry (any error just leaves HOME at "/").
		if u, err := resolveUser(rootfs, fmt.Sprint(p.User.UID)); err == nil {
			home = u.home
		}
	}

	p.Env = mergeEnv(p.Env, c.Env, o.env)
	if _, ok := lookupEnv(p.Env, "HOME"); !ok {
		if home == "" {
			home = "/"
		}
		p.Env = append(p.Env, "HOME="+home)
	}

	if o.volumes {
		for _, v := range sortedKeys(c.Volumes) {
			dest := absDir(v)
			if slices.ContainsFunc(spec.Mounts, func(m specs.Mount) bool { return path.Clean(m.Destination) == dest }) {
				continue
			}
			spec.Mounts = append(spec.Mounts, specs.Mount{
				Destination: dest,
				Type:        "tmpfs",
				Source:      "tmpfs",
				Options:     []string{"nosuid", "nodev", "mode=755"},
			})
		}
	}

	if spec.Annotations == nil {
		spec.Annotations = map[string]string{}
	}
	a := spec.Annotations
	set := func(k, v string) {
		if v != "" {
			a[k] = v
		}
	}
	set(AnnotationOS, img.OS)
	set(AnnotationArchitecture, img.Architecture)
	set(AnnotationVariant, img.Variant)
	set(AnnotationOSVersion, img.OSVersion)
	set(AnnotationOSFeatures, strings.Join(img.OSFeatures, ","))
	set(AnnotationAuthor, img.Author)
	if img.Created != nil {
		set(AnnotationCreated, img.Created.UTC().Format(time.RFC3339Nano))
	}
	set(AnnotationStopSignal, c.StopSignal)
	set(AnnotationExposedPorts, strings.Join(sortedKeys(c.ExposedPorts), ","))
	for k, v := range c.Labels {
		a[k] = v
	}
	return nil
}

// absDir makes a config path absolute and clean; a relative WorkingDir or
// volume is taken relative to the root, as Docker does.
func absDir(p string) string { return path.Clean("/" + p) }

func sortedKeys(m map[string]struct{}) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// mergeEnv returns base without the names image sets, then image, then each
// override applied in order ("NAME=V" replaces or appends, "NAME" removes).
// conversion.md: a converter SHOULD NOT add entries whose names are in
// Config.Env, while caller inputs may add, remove or change anything.
func mergeEnv(base, image, overrides []string) []string {
	var env []string
	for _, kv := range base {
		if _, ok := lookupEnv(image, envName(kv)); !ok {
			env = append(env, kv)
		}
	}
	for _, kv := range append(slices.Clone(image), overrides...) {
		name := envName(kv)
		i := slices.IndexFunc(env, func(e string) bool { return envName(e) == name })
		switch {
		case !strings.Contains(kv, "="):
			if i >= 0 {
				env = slices.Delete(env, i, i+1)
			}
		case i >= 0:
			env[i] = kv
		default:
			env = append(env, kv)
		}
	}
	return env
}

// OverrideEnv applies overrides to env as docker's and runc's -e do:
// "NAME=V" replaces NAME's entry or appends it, "NAME" removes it.
func OverrideEnv(env, overrides []string) []string { return mergeEnv(env, nil, overrides) }

func envName(kv string) string { n, _, _ := strings.Cut(kv, "="); return n }

func lookupEnv(env []string, name string) (string, bool) {
	for _, kv := range env {
		if n, v, ok := strings.Cut(kv, "="); ok && n == name {
			return v, true
		}
	}
	return "", false
}

// UserError is returned for a Config.User that cannot be resolved; it
// matches ErrUnknownUser.
type UserError struct {
	User   string // Config.User as given
	Reason string
}

func (e *UserError) Error() string {
	return fmt.Sprintf("resolve user %q: %s", e.User, e.Reason)
}

// Is makes errors.Is(err, ErrUnknownUser) true.
func (e *UserError) Is(target error) bool { return target == ErrUnknownUser }
