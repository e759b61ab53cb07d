// The YAML language server as an editor runs it, on files of this repository: the schema comes from each file's
// "# yaml-language-server: $schema=..." line, read from disk.
//   node check.mjs validate FILE...             {"FILE": [{"line": 3, "message": "..."}], ...}
//   node check.mjs complete FILE LINE COLUMN    {"labels": ["address", ...]}   (LINE, COLUMN from 0)
//   node check.mjs hover FILE LINE COLUMN       {"text": "..."}
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { getLanguageService } from 'yaml-language-server';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { URI } from 'vscode-uri';

const service = getLanguageService({
  schemaRequestService: async (uri) => readFile(URI.parse(uri).fsPath, 'utf8'),
  workspaceContext: { resolveRelativePath: (relative, resource) => URI.file(path.resolve(path.dirname(URI.parse(resource).fsPath), relative)).toString() },
});
service.configure({ validate: true, completion: true, hover: true, yamlVersion: '1.2', schemas: [] });

async function open(file) {
  const full = path.resolve(file);
  return TextDocument.create(URI.file(full).toString(), 'yaml', 1, await readFile(full, 'utf8'));
}

const [command, ...args] = process.argv.slice(2);
let result;
if (command === 'validate') {
  result = {};
  for (const file of args) {
    const diagnostics = await service.doValidation(await open(file), false);
    result[file] = diagnostics.map((d) => ({ line: d.range.start.line, message: d.message }));
  }
} else if (command === 'complete') {
  const list = await service.doComplete(await open(args[0]), { line: Number(args[1]), character: Number(args[2]) }, false);
  result = { labels: list.items.map((i) => i.label) };
} else if (command === 'hover') {
  const hover = await service.doHover(await open(args[0]), { line: Number(args[1]), character: Number(args[2]) });
  const contents = hover?.contents;
  result = { text: typeof contents === 'string' ? contents : contents?.value ?? JSON.stringify(contents ?? null) };
} else {
  throw new Error(`unknown command ${command}`);
}
console.log(JSON.stringify(result));
