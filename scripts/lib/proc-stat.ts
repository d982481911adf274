import { readFileSync } from 'node:fs';

/**
 * The fields of a /proc `stat` file (`/proc/<pid>/stat`, `/proc/<pid>/task/<tid>/stat`) from
 * field 3 (the state) on, so that field n is at index n − 3: the command name before them is in
 * parentheses and may hold spaces.
 */
export function procStatFields(path: string): string[] {
  const stat = readFileSync(path, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}
