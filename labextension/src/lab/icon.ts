/** The icon of `.dfgraph.json` files, the launcher item and the document tab: three nodes, two edges. */
import { LabIcon } from "@jupyterlab/ui-components";

const svg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="16">
  <g class="jp-icon3" fill="#616161">
    <rect x="1.5" y="9" width="6" height="6" rx="1.5"/>
    <rect x="16.5" y="3" width="6" height="6" rx="1.5"/>
    <rect x="16.5" y="15" width="6" height="6" rx="1.5"/>
  </g>
  <g class="jp-icon-accent1" fill="none" stroke="#2563eb" stroke-width="1.6">
    <path d="M7.5 12 C12 12 12 6 16.5 6"/>
    <path d="M7.5 12 C12 12 12 18 16.5 18"/>
  </g>
</svg>`;

export const graphIcon = new LabIcon({ name: "dataflow-jupyter:graph", svgstr: svg });
