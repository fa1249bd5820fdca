package tests

import (
	"strings"
	"testing"
)

// gitEnv makes git deterministic and independent of the host's config:
// fixed identities and dates, so both mounts make the same commits.
func gitEnv(home string) []string {
	return []string{
		"HOME=" + home, "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=lamina", "GIT_AUTHOR_EMAIL=lamina@example.invalid",
		"GIT_COMMITTER_NAME=lamina", "GIT_COMMITTER_EMAIL=lamina@example.invalid",
		"GIT_AUTHOR_DATE=2020-01-02T03:04:05Z", "GIT_COMMITTER_DATE=2020-01-02T03:04:05Z",
	}
}

// gitLowerScript makes a repository in $1/repo with two branches, 200
// files, an executable, a symlink, and packed objects, as a lower layer
// holding a checked-out project would.
const gitLowerScript = `set -e
mkdir "$1/repo" && cd "$1/repo"
git init -q -b main .
i=0; while [ $i -lt 200 ]; do mkdir -p d$((i % 10)); echo "file $i" > d$((i % 10))/f$i; i=$((i+1)); done
printf '#!/bin/sh\necho hi\n' > run.sh && chmod 755 run.sh
ln -s d1/f1 link
git add -A && git commit -q -m base
git checkout -q -b feature
echo changed > d3/f3 && git rm -q d4/f4 && echo new > d5/new
git add -A && git commit -q -m feature
git checkout -q main
git gc -q
`

// gitSteps edits the checkout, commits, switches branches, repacks and
// checks the repository. Every command's output is part of the transcript;
// none prints timings or inode numbers.
const gitSteps = `set -e
cd "$1/repo"
git status --porcelain
echo '--- edit and commit'
echo edited >> d0/f0 && rm d1/f11 && echo brand > d2/brand && chmod 700 run.sh
git add -A && git commit -q -m edit && git rev-parse HEAD
echo '--- checkout feature'
git checkout -q feature && git rev-parse HEAD && cat d3/f3 && ls d5 | head -3
test ! -e d4/f4 && echo 'd4/f4 gone'
git status --porcelain
echo '--- back to main, gc and repack'
git checkout -q main
git gc -q --prune=now
git repack -q -a -d
git status --porcelain
git fsck --full --no-progress 2>&1
git rev-list --all --objects | sort | sha256sum
git count-objects -v | grep -E '^(count|in-pack|garbage):'
git log --all --format='%H %s'
echo '--- worktree'
git ls-files -s | sha256sum
cat d0/f0; ls -l run.sh | cut -c1-10
`

// TestClientGit runs git in a work tree that starts in a lower layer.
func TestClientGit(t *testing.T) {
	requireMountEnv(t)
	requireTool(t, "git")
	root := t.TempDir()
	env := gitEnv(root)
	lower := buildLowerWith(t, root, "lower", env, gitLowerScript)
	runClient(t, []string{lower}, func(t *testing.T, mnt string) string {
		return shellStep(t, mnt, env, gitSteps)
	}, func(rel string) bool {
		// The index records inode numbers and ctimes; packs and their
		// names depend on thread scheduling. git's own checks above cover
		// the repository.
		return rel == "repo/.git" || strings.HasPrefix(rel, "repo/.git/")
	})
}
