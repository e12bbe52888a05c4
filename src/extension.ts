// The VS Code extension entry point. The editor experience (tree, webview, engine process) is built on
// src/core through src/engine; see DESIGN.md.
import type * as vscode from 'vscode';

export function activate(_context: vscode.ExtensionContext): void {}

export function deactivate(): void {}
