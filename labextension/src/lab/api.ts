/**
 * The server extension's two endpoints (dataflow_jupyter/server): the node catalog of the
 * server's environment and the validation of a graph document. Both go through
 * `ServerConnection`, so they carry the Jupyter server's token and XSRF cookie.
 */
import { URLExt } from "@jupyterlab/coreutils";
import { ServerConnection } from "@jupyterlab/services";
import { MSG } from "../canvas/messages";

const settings = (): ServerConnection.ISettings => ServerConnection.makeSettings();

async function request(path: string, init: RequestInit): Promise<unknown> {
  const s = settings();
  const url = URLExt.join(s.baseUrl, "dataflow", path);
  const response = await ServerConnection.makeRequest(url, init, s);
  const text = await response.text();
  if (!response.ok) {
    let reason = text;
    try {
      reason = String((JSON.parse(text) as { message?: unknown }).message ?? text);
    } catch {
      // not JSON: the text is the reason
    }
    throw new Error(MSG.serverAnswered(init.method ?? "GET", path, response.status, reason));
  }
  return JSON.parse(text) as unknown;
}

/** The `catalog` trait's value (`widget/catalog.py`) for the server's `NodeRegistry.default()`. */
export const fetchCatalog = (): Promise<unknown> => request("catalog", { method: "GET" });

export interface Validation {
  /** Every problem `Graph.validate` reports (empty: valid). */
  problems: string[];
  /** Each node's own problems, by node id (`Graph.node_problems`). */
  nodes: Record<string, string[]>;
}

/** Checks a document as `Graph.validate` would, with the server's registry; runs no node code. */
export async function validateGraph(text: string): Promise<Validation> {
  const answer = (await request("validate", { method: "POST", body: text })) as Partial<Validation>;
  return { problems: answer.problems ?? [], nodes: answer.nodes ?? {} };
}
