// Starts GraphiQL against this server's /graphql, with subscriptions over WebSocket.
(function () {
  var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
  var fetcher = GraphiQL.createFetcher({
    url: window.location.origin + "/graphql",
    subscriptionUrl: scheme + window.location.host + "/graphql",
  });
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultEditorToolbarOpen: true,
      defaultQuery:
        "# Sign in through the Headers tab: {\"Authorization\": \"Bearer <token>\"}\n" +
        "query Latest {\n  posts(first: 5) {\n    edges { node { title author { name } tags } }\n  }\n}\n",
    })
  );
})();
