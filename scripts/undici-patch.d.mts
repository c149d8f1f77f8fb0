/** Types of undici-patch.mjs (plain JavaScript: it runs at install, before any build). */
export interface PatchLocations {
  patchesDir?: string;
  undiciRoot?: string;
}
export interface PatchHunk {
  header: string;
  old: string;
  new: string;
}
export function undiciPatchFile(patchesDir?: string): { name: string; path: string; version: string };
export function parsePatch(text: string): { path: string; hunks: PatchHunk[] }[];
export function undiciPatchStatus(at?: PatchLocations): { applied: true } | { applied: false; reason: string };
export function applyUndiciPatch(at?: PatchLocations, log?: (line: string) => void): void;
