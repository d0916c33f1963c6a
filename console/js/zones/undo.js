// Undo and redo over whole configs: every edit records the config as it was
// before. Configs are a few kilobytes, so snapshots are simpler and safer
// than inverse operations. Edits that share a key in a row (typing a name
// letter by letter) are one step.

const LIMIT = 200;

export class UndoStack {
  constructor() {
    this.past = [];
    this.future = [];
    this.lastKey = null;
  }

  // `before` is the config as it was before an edit (a copy the caller no
  // longer changes). A `key` equal to the last one's merges the two edits.
  record(before, key = null) {
    this.future = [];
    if (key !== null && key === this.lastKey) return;
    this.past.push(before);
    if (this.past.length > LIMIT) this.past.shift();
    this.lastKey = key;
  }

  // The config to go back to from `current`, or null when there is none.
  undo(current) {
    if (!this.past.length) return null;
    this.future.push(current);
    this.lastKey = null;
    return this.past.pop();
  }

  redo(current) {
    if (!this.future.length) return null;
    this.past.push(current);
    this.lastKey = null;
    return this.future.pop();
  }

  // A fresh start, after loading a config from the server.
  clear() {
    this.past = [];
    this.future = [];
    this.lastKey = null;
  }

  // Ends a run of merged edits (the field lost focus, another edit came).
  seal() {
    this.lastKey = null;
  }

  get canUndo() {
    return this.past.length > 0;
  }

  get canRedo() {
    return this.future.length > 0;
  }
}
