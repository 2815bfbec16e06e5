// Pilothouse on Azure: the function app (infra/azure/function_app.py) on a Flex Consumption plan,
// its storage account (tables: the store; queues: the suite's queues; containers: backups and the
// deployment package), a Key Vault, and one user-assigned managed identity holding only the roles
// it needs, each scoped to the resource it is for. HTTPS only, TLS 1.2, no shared keys, no public
// blob access; the storage account and the vault take no traffic from the internet: the app reaches
// them through its virtual network (VNet integration, private endpoints, private DNS); every
// resource sends its logs to one Log Analytics workspace.
//
// az deployment group create -g <group> -f infra/azure/main.bicep -p name=pilothouse
// then `make azure-package` and `func azure functionapp publish <app>` (or az functionapp deploy).

targetScope = 'resourceGroup'

@description('A short name: the prefix of every resource (letters and digits, 3-11 characters).')
@minLength(3)
@maxLength(11)
param name string = 'pilothouse'

param location string = resourceGroup().location

@description('Days the logs are kept.')
param logRetentionDays int = 30

@description('The most instances the plan scales the function app to.')
param maximumInstanceCount int = 100

@description('The address space of the virtual network.')
param vnetAddressPrefix string = '10.20.0.0/16'

@description('The subnet the app sends its outbound traffic from (delegated to the Flex Consumption plan).')
param appSubnetPrefix string = '10.20.0.0/24'

@description('The subnet of the private endpoints of the storage account and the vault.')
param endpointsSubnetPrefix string = '10.20.1.0/24'

// The suite's queues (shared/pilothouse/settings.py defaults, PILOTHOUSE_<NAME>_QUEUE) with their
// visibility timeouts (wiring.queue_visibilities), each with its <queue>-poison dead-letter queue.
// The queue adapter (messaging/azure_queue.py) reads a queue's settings from its metadata
// (visibilitytimeout, maxreceivecount, deadletterqueue); the Functions host's queue triggers move a
// message to <queue>-poison after maxDequeueCount (host.json: 5) dequeues, the same number.
var queues = [
  { name: 'pilothouse-jobs', visibility: 900 }
  { name: 'pilothouse-executions', visibility: 60 }
  { name: 'pilothouse-tasks', visibility: 900 }
  { name: 'pilothouse-task-messages', visibility: 900 }
  { name: 'pilothouse-notifications', visibility: 360 }
  { name: 'pilothouse-health', visibility: 180 }
]
var queueNames = [for queue in queues: queue.name]
var maxReceiveCount = 5
// The queue adapter's claim-check container: a message body too large for a queue message (over
// 48 KiB before Base64) travels as a blob here (azure_queue.AzureStorageQueue.payload_container).
var queuePayloadsContainerName = 'pilothouse-queue-payloads'
var tableName = 'pilothouse'
var blobsContainerName = 'pilothouse-blobs'
// the encryption scope of the backups' container (a customer-managed key in the vault); the blob
// adapter writes every blob with it (PILOTHOUSE_AZURE_BLOB_ENCRYPTION_SCOPE)
var backupScopeName = 'pilothousebackups'
var deploymentContainerName = 'app-package'
var suffix = uniqueString(resourceGroup().id, name)
var storageName = toLower('${take(name, 11)}${take(suffix, 13)}')

// Built-in role definitions (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles)
var roles = {
  blobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  blobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  queueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  tableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
  keyVaultCryptoUser: '12338af0-0e69-4776-bea7-57ae8d297424'
  keyVaultCryptoServiceEncryptionUser: 'e147488a-f6f5-4113-8e2d-b22465e65bf6'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: '${name}-logs-${suffix}'
  location: location
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: logRetentionDays
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: '${name}-insights-${suffix}'
  location: location
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    DisableLocalAuth: true
  }
}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: '${name}-identity-${suffix}'
  location: location
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  //checkov:skip=CKV_AZURE_43:the name is computed (lower-cased prefix of at most 11 letters and digits + uniqueString): 3-24 lower-case letters and digits by construction
  name: storageName
  location: location
  kind: 'StorageV2'
  sku: { name: 'Standard_GRS' }
  // the account's own identity reads the backups' encryption-scope key (wrap/unwrap only)
  identity: { type: 'SystemAssigned' }
  properties: {
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowCrossTenantReplication: false
    publicNetworkAccess: 'Disabled'
    networkAcls: {
      bypass: 'AzureServices, Logging, Metrics'
      defaultAction: 'Deny'
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: { enabled: true, keyType: 'Account' }
        file: { enabled: true, keyType: 'Account' }
        queue: { enabled: true, keyType: 'Account' }
        table: { enabled: true, keyType: 'Account' }
      }
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    deleteRetentionPolicy: { enabled: true, days: 7 }
    containerDeleteRetentionPolicy: { enabled: true, days: 7 }
  }
}

// Backups (and the other blobs of the blobs container) are encrypted with a key of the vault
// through an encryption scope the container enforces; infrastructure encryption doubles it.
resource backupScope 'Microsoft.Storage/storageAccounts/encryptionScopes@2023-05-01' = {
  parent: storage
  name: backupScopeName
  properties: {
    source: 'Microsoft.KeyVault'
    state: 'Enabled'
    requireInfrastructureEncryption: true
    // versionless: the scope follows the key's rotation
    keyVaultProperties: { keyUri: '${vault.properties.vaultUri}keys/${backupKey.name}' }
  }
  dependsOn: [ backupKeyAccess ]
}

resource blobsContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: blobsContainerName
  properties: {
    publicAccess: 'None'
    defaultEncryptionScope: backupScope.name
    denyEncryptionScopeOverride: true
  }
}

resource queuePayloadsContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: queuePayloadsContainerName
  properties: { publicAccess: 'None' }
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: { publicAccess: 'None' }
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource poisonQueues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [
  for queue in queues: {
    parent: queueService
    name: '${queue.name}-poison'
    properties: {
      metadata: { visibilitytimeout: '30' }
    }
  }
]

resource suiteQueues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [
  for queue in queues: {
    parent: queueService
    name: queue.name
    properties: {
      metadata: {
        visibilitytimeout: string(queue.visibility)
        maxreceivecount: string(maxReceiveCount)
        deadletterqueue: '${queue.name}-poison'
      }
    }
  }
]

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource table 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = {
  parent: tableService
  name: tableName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: '${take(name, 11)}-kv-${take(suffix, 8)}'
  location: location
  properties: {
    tenantId: subscription().tenantId
    // premium: the keys below are HSM-backed (RSA-HSM), which a standard vault cannot hold
    sku: { family: 'A', name: 'premium' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: 'Disabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Deny'
    }
  }
}

// The master key of envelope encryption (backups, sealed channel secrets): HSM-backed, rotated yearly.
resource masterKey 'Microsoft.KeyVault/vaults/keys@2023-07-01' = {
  parent: vault
  name: 'pilothouse-master'
  properties: {
    kty: 'RSA-HSM'
    keySize: 3072
    keyOps: [ 'wrapKey', 'unwrapKey' ]
    attributes: {
      enabled: true
      exp: 1893456000 // 2030-01-01: rotation below renews it long before
    }
    rotationPolicy: {
      attributes: { expiryTime: 'P2Y' }
      lifetimeActions: [
        { action: { type: 'rotate' }, trigger: { timeAfterCreate: 'P1Y' } }
        { action: { type: 'notify' }, trigger: { timeBeforeExpiry: 'P30D' } }
      ]
    }
  }
}

// The key of the backups' encryption scope (the storage service wraps its blob keys with it).
resource backupKey 'Microsoft.KeyVault/vaults/keys@2023-07-01' = {
  parent: vault
  name: 'pilothouse-backups'
  properties: {
    kty: 'RSA-HSM'
    keySize: 3072
    keyOps: [ 'wrapKey', 'unwrapKey' ]
    attributes: {
      enabled: true
      exp: 1893456000 // 2030-01-01: rotation below renews it long before
    }
    rotationPolicy: {
      attributes: { expiryTime: 'P2Y' }
      lifetimeActions: [
        { action: { type: 'rotate' }, trigger: { timeAfterCreate: 'P1Y' } }
        { action: { type: 'notify' }, trigger: { timeBeforeExpiry: 'P30D' } }
      ]
    }
  }
}

// -- network: the app's outbound traffic goes through the VNet to private endpoints ------------
resource vnet 'Microsoft.Network/virtualNetworks@2024-01-01' = {
  name: '${name}-vnet-${suffix}'
  location: location
  properties: {
    addressSpace: { addressPrefixes: [ vnetAddressPrefix ] }
    subnets: [
      {
        name: 'app'
        properties: {
          addressPrefix: appSubnetPrefix
          delegations: [ { name: 'flex', properties: { serviceName: 'Microsoft.App/environments' } } ]
        }
      }
      {
        name: 'endpoints'
        properties: {
          addressPrefix: endpointsSubnetPrefix
          privateEndpointNetworkPolicies: 'Disabled'
        }
      }
    ]
  }
}

// one private endpoint (and private DNS zone) per storage service the app uses, and the vault's
var privateLinks = [
  { name: 'blob', group: 'blob', zone: 'privatelink.blob.${environment().suffixes.storage}', target: storage.id }
  { name: 'queue', group: 'queue', zone: 'privatelink.queue.${environment().suffixes.storage}', target: storage.id }
  { name: 'table', group: 'table', zone: 'privatelink.table.${environment().suffixes.storage}', target: storage.id }
  { name: 'vault', group: 'vault', zone: 'privatelink.vaultcore.azure.net', target: vault.id }
]

resource zones 'Microsoft.Network/privateDnsZones@2020-06-01' = [
  for link in privateLinks: {
    name: link.zone
    location: 'global'
  }
]

resource zoneLinks 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2020-06-01' = [
  for (link, i) in privateLinks: {
    parent: zones[i]
    name: '${name}-vnet'
    location: 'global'
    properties: {
      virtualNetwork: { id: vnet.id }
      registrationEnabled: false
    }
  }
]

resource endpoints 'Microsoft.Network/privateEndpoints@2024-01-01' = [
  for link in privateLinks: {
    name: '${name}-${link.name}-pe-${suffix}'
    location: location
    properties: {
      subnet: { id: vnet.properties.subnets[1].id }
      privateLinkServiceConnections: [
        {
          name: link.name
          properties: {
            privateLinkServiceId: link.target
            groupIds: [ link.group ]
          }
        }
      ]
    }
  }
]

resource endpointDns 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2024-01-01' = [
  for (link, i) in privateLinks: {
    parent: endpoints[i]
    name: 'default'
    properties: {
      privateDnsZoneConfigs: [ { name: link.name, properties: { privateDnsZoneId: zones[i].id } } ]
    }
  }
]

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: '${name}-plan-${suffix}'
  location: location
  kind: 'functionapp'
  sku: { tier: 'FlexConsumption', name: 'FC1' }
  properties: { reserved: true, zoneRedundant: true }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  //checkov:skip=CKV_AZURE_222:the app serves the public HTTP API; callers authenticate with API keys or OIDC tokens checked by every function
  //checkov:skip=CKV_AZURE_212:Flex Consumption scales each function from zero across zones; always-ready instances are a cost choice, not a failover setting
  //checkov:skip=CKV_AZURE_213:Flex Consumption has no App Service health check (no fixed instances to take out of rotation); GET /v1/health is public for an external probe
  name: '${name}-${suffix}'
  location: location
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identity.id}': {} }
  }
  properties: {
    serverFarmId: plan.id
    virtualNetworkSubnetId: vnet.properties.subnets[0].id
    httpsOnly: true
    clientCertEnabled: true
    clientCertMode: 'OptionalInteractiveUser' // the API authenticates callers by API key or OIDC token itself
    publicNetworkAccess: 'Enabled'
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      remoteDebuggingEnabled: false
      vnetRouteAllEnabled: true
      appSettings: [
        // the host's own storage, through the managed identity (no connection string, no key)
        { name: 'AzureWebJobsStorage__accountName', value: storage.name }
        { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
        { name: 'AzureWebJobsStorage__clientId', value: identity.properties.clientId }
        // the queue triggers' connection (function_app.py STORAGE_CONNECTION)
        { name: 'PilothouseStorage__queueServiceUri', value: storage.properties.primaryEndpoints.queue }
        { name: 'PilothouseStorage__credential', value: 'managedidentity' }
        { name: 'PilothouseStorage__clientId', value: identity.properties.clientId }
        { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'ClientId=${identity.properties.clientId};Authorization=AAD' }
        { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: insights.properties.ConnectionString }
        { name: 'AZURE_CLIENT_ID', value: identity.properties.clientId }
        // the package is mounted read-only: what the embedded defaults would write goes to /tmp
        { name: 'PILOTHOUSE_DATA_DIR', value: '/tmp/pilothouse' }
        { name: 'PILOTHOUSE_STORE', value: 'azure-tables' }
        { name: 'PILOTHOUSE_QUEUE', value: 'azure-queue' }
        { name: 'PILOTHOUSE_BLOBS', value: 'azure-blob' }
        { name: 'PILOTHOUSE_TABLE_NAME', value: tableName }
        { name: 'PILOTHOUSE_BUCKET_NAME', value: blobsContainerName }
        // the Azure adapters' account, reached with the managed identity (AZURE_CLIENT_ID above;
        // azure-identity's DefaultAzureCredential): its queue and blob endpoints are
        // https://<account>.{queue,blob}.core.windows.net, the table endpoint is given as well
        { name: 'PILOTHOUSE_AZURE_STORAGE_ACCOUNT', value: storage.name }
        { name: 'PILOTHOUSE_AZURE_TABLE_ENDPOINT', value: storage.properties.primaryEndpoints.table }
        { name: 'PILOTHOUSE_JOBS_QUEUE', value: queueNames[0] }
        { name: 'PILOTHOUSE_EXECUTIONS_QUEUE', value: queueNames[1] }
        { name: 'PILOTHOUSE_TASKS_QUEUE', value: queueNames[2] }
        { name: 'PILOTHOUSE_TASK_MESSAGES_QUEUE', value: queueNames[3] }
        { name: 'PILOTHOUSE_NOTIFICATIONS_QUEUE', value: queueNames[4] }
        { name: 'PILOTHOUSE_HEALTH_QUEUE', value: queueNames[5] }
        // envelope encryption wraps data keys with the vault's master key; secret values live in
        // the vault; blobs (backups) are written with the backups' encryption scope
        { name: 'PILOTHOUSE_KEY_PROVIDER', value: 'keyvault' }
        { name: 'PILOTHOUSE_AZURE_KEYVAULT_URL', value: vault.properties.vaultUri }
        { name: 'PILOTHOUSE_AZURE_KEYVAULT_KEY_NAME', value: masterKey.name }
        { name: 'PILOTHOUSE_AZURE_KEYVAULT_WRAP_ALGORITHM', value: 'RSA-OAEP-256' }
        { name: 'PILOTHOUSE_SECRET_BACKEND', value: 'keyvault' }
        { name: 'PILOTHOUSE_CLOUD_SECRETS_PREFIX', value: 'pilothouse-' }
        { name: 'PILOTHOUSE_AZURE_BLOB_ENCRYPTION_SCOPE', value: backupScope.name }
      ]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identity.id
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: 2048
      }
      runtime: { name: 'python', version: '3.12' }
    }
  }
  dependsOn: [ deploymentContainer, endpointDns ]
}

// -- least privilege: each role on the one resource it is needed for --------------------------
// The Functions host keeps its leases and timers' state in blobs of its storage account (and reads
// the deployment package): blob data owner there, as Flex Consumption requires.
resource hostBlobs 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: storage
  name: guid(storage.id, identity.id, roles.blobDataOwner)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.blobDataOwner)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// Queue triggers read and delete messages and write <queue>-poison; the suite sends to its queues.
resource queueAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: storage
  name: guid(storage.id, identity.id, roles.queueDataContributor)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.queueDataContributor)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// The store: the one table.
resource tableAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: table
  name: guid(table.id, identity.id, roles.tableDataContributor)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.tableDataContributor)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// Secrets: values under the vault, written and read by the secrets service.
resource secretAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: vault
  name: guid(vault.id, identity.id, roles.keyVaultSecretsOfficer)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsOfficer)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// Envelope encryption: wrap and unwrap data keys with the master key, nothing else.
resource keyAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: masterKey
  name: guid(masterKey.id, identity.id, roles.keyVaultCryptoUser)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultCryptoUser)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// The storage service wraps the backups' blob keys with their key: that key only, wrap/unwrap only.
resource backupKeyAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: backupKey
  name: guid(backupKey.id, storage.id, roles.keyVaultCryptoServiceEncryptionUser)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultCryptoServiceEncryptionUser)
    principalId: storage.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

// Telemetry with Entra ID authentication (local auth is off on the component).
resource telemetryAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: insights
  name: guid(insights.id, identity.id, roles.monitoringMetricsPublisher)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// -- diagnostic settings: every resource's logs and metrics to the workspace --------------------
resource appDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  scope: app
  name: 'to-workspace'
  properties: {
    workspaceId: workspace.id
    logs: [ { category: 'FunctionAppLogs', enabled: true } ]
    metrics: [ { category: 'AllMetrics', enabled: true } ]
  }
}

resource vaultDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  scope: vault
  name: 'to-workspace'
  properties: {
    workspaceId: workspace.id
    logs: [ { categoryGroup: 'audit', enabled: true } ]
    metrics: [ { category: 'AllMetrics', enabled: true } ]
  }
}

resource blobDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  scope: blobService
  name: 'to-workspace'
  properties: {
    workspaceId: workspace.id
    logs: [
      { category: 'StorageRead', enabled: true }
      { category: 'StorageWrite', enabled: true }
      { category: 'StorageDelete', enabled: true }
    ]
    metrics: [ { category: 'Transaction', enabled: true } ]
  }
}

resource queueDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  scope: queueService
  name: 'to-workspace'
  properties: {
    workspaceId: workspace.id
    logs: [
      { category: 'StorageRead', enabled: true }
      { category: 'StorageWrite', enabled: true }
      { category: 'StorageDelete', enabled: true }
    ]
    metrics: [ { category: 'Transaction', enabled: true } ]
  }
}

resource tableDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  scope: tableService
  name: 'to-workspace'
  properties: {
    workspaceId: workspace.id
    logs: [
      { category: 'StorageRead', enabled: true }
      { category: 'StorageWrite', enabled: true }
      { category: 'StorageDelete', enabled: true }
    ]
    metrics: [ { category: 'Transaction', enabled: true } ]
  }
}

output functionAppName string = app.name
output functionAppUrl string = 'https://${app.properties.defaultHostName}'
output storageAccountName string = storage.name
output keyVaultUri string = vault.properties.vaultUri
output backupEncryptionScope string = backupScope.name
output identityClientId string = identity.properties.clientId
