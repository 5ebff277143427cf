import { expect, test } from 'vitest';
import { driverOverrides, parseGitConfig, safeGitConfig } from './git-safe.js';

const CONFIG = `[core]
\trepositoryformatversion = 0
\tfilemode = true ; a comment
\tFSMonitor = "evil"
\tbare
[remote "origin"]
\turl = ext::sh -c evil
\tfetch = +refs/heads/*:refs/remotes/origin/*
[branch "main"]
\tremote = origin
\tmerge = refs/heads/main
[filter "x"]
\tclean = evil %f
[diff "y"]
\ttextconv = evil
[Diff]
\texternal = evil
\trenames = copies
[include]
\tpath = other.cfg
[includeIf "gitdir:/"]
\tpath = other.cfg
[user]
\tname = "A \\"quoted\\" name" # trailing
\temail = a@b.c
[status]
\tshowUntrackedFiles = \\
no
[log.showSignature]
[log]
\tshowSignature = true
not a valid line ===
`;

test('only allowlisted keys survive: no program, no include, no driver', () => {
  const out = safeGitConfig(parseGitConfig(CONFIG));
  expect(out).toBe(
    [
      '[core]',
      '\trepositoryformatversion = "0"',
      '\tfilemode = "true"',
      '\tbare',
      '[remote "origin"]',
      '\tfetch = "+refs/heads/*:refs/remotes/origin/*"',
      '[branch "main"]',
      '\tremote = "origin"',
      '\tmerge = "refs/heads/main"',
      '[diff]',
      '\trenames = "copies"',
      '[user]',
      '\tname = "A \\"quoted\\" name"',
      '\temail = "a@b.c"',
      '[status]',
      '\tshowuntrackedfiles = "no"',
      '',
    ].join('\n'),
  );
  for (const bad of ['evil', 'include', 'other.cfg', 'showsignature', 'ext::'])
    expect(out).not.toContain(bad);
});

test('a writing git gets every defined driver disarmed', () => {
  expect(driverOverrides(parseGitConfig(CONFIG))).toEqual([
    '-c',
    'filter.x.clean=',
    '-c',
    'filter.x.smudge=',
    '-c',
    'filter.x.process=',
    '-c',
    'diff.y.command=false',
    '-c',
    'diff.y.textconv=cat',
    '-c',
    'diff.external=false',
  ]);
});
