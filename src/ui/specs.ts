// Unit specs in the editor, built from a unit kind's syntax as the engine's registry states it (no
// kind is named here, so a new kind needs no edit). No vscode import: tested with mocha.

/**
 * A spec from a unit kind's syntax: `<layer>` becomes the layer's name, the next `<...>` the value,
 * optional `[...]` parts are left out (`channel:<layer>:<c|a-b>` -> `channel:conv_b:0-7`).
 */
export function specFromSyntax(syntax: string, layer: string, value: string): string {
  return syntax.replace(/\[[^\]]*\]/g, '').replace('<layer>', layer).replace(/<[^>]*>/, value);
}
