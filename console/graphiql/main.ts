// GraphiQL for developers, served at /graphql to a browser: every file of it comes from this
// build, so the page runs offline and under the same-origin Content-Security-Policy.
// Its editors (Monaco) run their language services in workers, which Vite emits as files.
import "graphiql/setup-workers/vite";
import "graphiql/style.css";
import "./page.css";
import { createGraphiQLFetcher } from "@graphiql/toolkit";
import { GraphiQL } from "graphiql";
import { createElement } from "react";
import { createRoot } from "react-dom/client";

const socket = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/graphql`;
// The headers editor's headers go with every HTTP request and, as connection parameters, in the
// WebSocket's connection_init: one Authorization header serves queries and subscriptions.
const fetcher = createGraphiQLFetcher({ url: "/graphql", subscriptionUrl: socket });

// The token is never kept in the browser's storage: the headers editor starts empty each time.
const props = {
  fetcher,
  shouldPersistHeaders: false,
  defaultHeaders: '{\n  "Authorization": "Bearer YOUR-TOKEN"\n}',
  defaultQuery: "{\n  viewer {\n    name\n  }\n}\n",
};

const root = document.getElementById("graphiql");
if (root) createRoot(root).render(createElement(GraphiQL, props));
