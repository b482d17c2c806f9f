import { CommunicationProtocolEnum, DaprClient, LogLevel } from '@dapr/dapr';

/** The official Dapr SDK, over HTTP, pointed at a test instance as if it were the sidecar. */
export function daprClient(baseUrl: string, apiToken: string): DaprClient {
  const { hostname, port } = new URL(baseUrl);
  return new DaprClient({
    daprHost: hostname,
    daprPort: port,
    communicationProtocol: CommunicationProtocolEnum.HTTP,
    daprApiToken: apiToken,
    logger: { level: LogLevel.Error },
  });
}
