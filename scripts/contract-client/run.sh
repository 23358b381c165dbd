#!/usr/bin/env bash
# Install, generate the types from docs/openapi.json, type-check, build and run the contract
# client. Needs GATEWAY_URL, ROOT_USERNAME and ROOT_PASSWORD for a running gateway.
set -euo pipefail
cd "$(dirname "$0")"
npm ci
npm run generate
npm run check
npm run build
npm start
