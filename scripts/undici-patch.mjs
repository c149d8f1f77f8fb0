#!/usr/bin/env node
// Applies patches/undici+<version>.patch to the installed undici: run as `postinstall` by npm in
// the source checkout (`npm ci`) and in an installed package (`npm install switchyard-<v>.tgz`),
// and read at start by the router, which warns when the patch is not in place.
//
// Why not patch-package: it is a development tool, and an installed package has no
// devDependencies (`npm install --omit=dev` could not run it). This file needs plain Node only.
// It applies each hunk of the patch by exact text (the hunk's old lines become its new lines),
// is a no-op when the new lines are there already (a second install, `npm rebuild`), and fails
// the install, naming the file and what to do, when undici is another version than the patch is
// for or its file no longer holds the old lines: never an install that silently runs stock undici.
// The patch and this file go away once undici is off the request path.
//
// Plain JavaScript (not compiled): it runs before `npm run build` in a fresh checkout.

import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PATCHES = fileURLToPath(new URL('../patches/', import.meta.url));

/** The undici patch file in `patchesDir` (exactly one), with the version it is made for. */
export function undiciPatchFile(patchesDir = PATCHES) {
  const names = readdirSync(patchesDir).filter((f) => /^undici\+.+\.patch$/.test(f));
  if (names.length !== 1) throw new Error(`expected exactly one undici+<version>.patch in ${patchesDir}, found ${names.length}`);
  const name = names[0];
  return { name, path: join(patchesDir, name), version: name.slice('undici+'.length, -'.patch'.length) };
}

/**
 * The patch as files and hunks: for each hunk, the text of its old lines (context and "-") and
 * of its new lines (context and "+"), each line ending in "\n".
 */
export function parsePatch(text) {
  const files = [];
  let file = null;
  let hunk = null;
  for (const line of text.split('\n')) {
    if (line.startsWith('+++ ')) {
      // "+++ b/node_modules/undici/lib/..." → "lib/..." inside the undici package.
      const path = line.slice(4).replace(/^b\//, '').replace(/^node_modules\/undici\//, '');
      file = { path, hunks: [] };
      files.push(file);
      hunk = null;
    } else if (line.startsWith('@@ ')) {
      if (file === null) throw new Error('hunk before any file header');
      hunk = { header: line, old: '', new: '' };
      file.hunks.push(hunk);
    } else if (hunk !== null) {
      if (line.startsWith(' ')) {
        hunk.old += `${line.slice(1)}\n`;
        hunk.new += `${line.slice(1)}\n`;
      } else if (line.startsWith('-')) hunk.old += `${line.slice(1)}\n`;
      else if (line.startsWith('+')) hunk.new += `${line.slice(1)}\n`;
      else if (line === '') {
        // A blank context line may lose its leading space; the line after the last hunk is "".
        hunk.old += '\n';
        hunk.new += '\n';
      } else if (!line.startsWith('\\')) hunk = null;
    }
  }
  for (const f of files) {
    for (const h of f.hunks) {
      // The split's last "" (end of file) added one "\n" too many to the last hunk.
      if (h.old.endsWith('\n\n') && h.new.endsWith('\n\n')) {
        h.old = h.old.slice(0, -1);
        h.new = h.new.slice(0, -1);
      }
    }
  }
  if (files.length === 0 || files.some((f) => f.hunks.length === 0)) throw new Error('no hunks found');
  return files;
}

/**
 * Where the files are: `patchesDir` (default: patches/ beside this folder) and `undiciRoot`
 * (default: the undici that this file resolves, as the router resolves it). Tests pass copies.
 * @typedef {{ patchesDir?: string, undiciRoot?: string }} PatchLocations
 */

/** The installed undici's folder and version. */
function installedUndici(undiciRoot) {
  let root = undiciRoot;
  if (root === undefined) {
    try {
      root = dirname(createRequire(import.meta.url).resolve('undici'));
    } catch (err) {
      throw new Error(`undici is not installed beside Switchyard (${err.message}); install the package's dependencies`);
    }
  }
  const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
  return { root, version };
}

/**
 * Whether the installed undici carries the patch: { applied: true } or { applied: false, reason }.
 * Reads two small files: meant for start-up and `switchyard check`, never per request.
 */
export function undiciPatchStatus(/** @type {PatchLocations} */ at = {}) {
  try {
    const patch = undiciPatchFile(at.patchesDir);
    const undici = installedUndici(at.undiciRoot);
    if (undici.version !== patch.version) return { applied: false, reason: `undici ${undici.version} is installed, patches/${patch.name} is for ${patch.version}` };
    for (const f of parsePatch(readFileSync(patch.path, 'utf8'))) {
      const text = readFileSync(join(undici.root, f.path), 'utf8');
      for (const h of f.hunks) {
        if (!text.includes(h.new)) return { applied: false, reason: `${join(undici.root, f.path)} lacks the change of patches/${patch.name} (${h.header})` };
      }
    }
    return { applied: true };
  } catch (err) {
    return { applied: false, reason: err.message };
  }
}

/** Applies the patch where it is not applied yet; throws with the file and the fix when it cannot. */
export function applyUndiciPatch(/** @type {PatchLocations} */ at = {}, log = (line) => process.stdout.write(`${line}\n`)) {
  const patch = undiciPatchFile(at.patchesDir);
  const undici = installedUndici(at.undiciRoot);
  if (undici.version !== patch.version) {
    throw new Error(
      `undici ${undici.version} is installed at ${undici.root}, but patches/${patch.name} is for undici ${patch.version}. ` +
        `Install undici ${patch.version} (package.json pins it), or re-create the patch for ${undici.version}.`,
    );
  }
  for (const f of parsePatch(readFileSync(patch.path, 'utf8'))) {
    const path = join(undici.root, f.path);
    let text = readFileSync(path, 'utf8');
    let changed = 0;
    for (const h of f.hunks) {
      if (text.includes(h.new)) continue;
      const at = text.indexOf(h.old);
      if (at < 0 || text.indexOf(h.old, at + 1) >= 0) {
        throw new Error(
          `${path} does not hold the lines of patches/${patch.name} (${h.header}) exactly once: the file was changed by something else. ` +
            `Reinstall undici ${patch.version} (rm -rf ${undici.root} and install again).`,
        );
      }
      text = text.slice(0, at) + h.new + text.slice(at + h.old.length);
      changed++;
    }
    if (changed > 0) {
      writeFileSync(path, text);
      log(`switchyard: patched ${path} (patches/${patch.name}, ${changed} hunk(s))`);
    } else {
      log(`switchyard: ${path} already carries patches/${patch.name}`);
    }
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    applyUndiciPatch();
  } catch (err) {
    process.stderr.write(`switchyard: cannot patch undici: ${err.message}\n`);
    process.exit(1);
  }
}
