// OpenID Connect provider for the sign-in tests: authorization code with PKCE and nonce
// (oauth2-mock-server), its behaviour steered by a JSON file the test rewrites:
//   {"email": "...", "nonce": null | "other", "tamper": false}
// Prints its issuer URL on the first line of stdout.
import { readFileSync } from "node:fs";
import { OAuth2Server } from "oauth2-mock-server";

const controlFile = process.argv[2];
const control = () => JSON.parse(readFileSync(controlFile, "utf8"));

const server = new OAuth2Server();
await server.issuer.keys.generate("RS256");
await server.start(0, "127.0.0.1");
server.issuer.url = `http://127.0.0.1:${server.address().port}`;

server.service.on("beforeTokenSigning", (token) => {
  const c = control();
  token.payload.email = c.email;
  token.payload.email_verified = true;
  token.payload.given_name = "Agent";
  if (c.nonce) token.payload.nonce = c.nonce;
});
const issuedAccessTokens = new Set();
server.service.on("beforeResponse", (response) => {
  const c = control();
  if (response.body && response.body.access_token) issuedAccessTokens.add(response.body.access_token);
  if (c.tamper && response.body && response.body.id_token) {
    // change the e-mail in the payload, keep the signature
    const [h, p, s] = response.body.id_token.split(".");
    const claims = JSON.parse(Buffer.from(p, "base64url").toString());
    claims.email = "intruder@interieur.gouv.fr";
    response.body.id_token = [h, Buffer.from(JSON.stringify(claims)).toString("base64url"), s].join(".");
  }
});
// userinfo answers only for access tokens this provider issued, with the steered e-mail
server.service.on("beforeUserinfo", (response, req) => {
  const token = (req.headers.authorization || "").replace(/^Bearer /, "");
  if (!issuedAccessTokens.has(token)) {
    response.statusCode = 401;
    response.body = { error: "invalid_token" };
    return;
  }
  response.body = { sub: "johndoe", email: control().email };
});
console.log(server.issuer.url);
process.on("SIGTERM", async () => { await server.stop(); process.exit(0); });
