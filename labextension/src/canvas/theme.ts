/** Light or dark, following JupyterLab's theme (`data-jp-theme-light` on <body>) as it changes. */
import { useEffect, useState } from "react";

function readMode(): "light" | "dark" {
  const body = typeof document === "undefined" ? null : document.body;
  if (!body) return "light";
  const light = body.dataset.jpThemeLight;
  if (light !== undefined) return light === "false" ? "dark" : "light";
  if (body.classList.contains("vscode-dark") || body.classList.contains("vscode-high-contrast")) return "dark";
  return "light";
}

export function useColorMode(): "light" | "dark" {
  const [mode, setMode] = useState(readMode);
  useEffect(() => {
    const observer = new MutationObserver(() => setMode(readMode()));
    observer.observe(document.body, { attributes: true, attributeFilter: ["data-jp-theme-light", "class"] });
    return () => observer.disconnect();
  }, []);
  return mode;
}
