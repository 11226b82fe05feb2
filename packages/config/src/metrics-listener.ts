/**
 * The rule both services apply to their optional metrics listener: METRICS_PORT must differ from
 * the service's main port, and METRICS_HOST means nothing without METRICS_PORT.
 */

/** Problems with METRICS_PORT / METRICS_HOST beside the main port setting `mainName`=`mainPort`. */
export function metricsListenerProblems(
  mainName: string,
  mainPort: number,
  metricsPort: number | undefined,
  metricsHost: string | undefined,
): string[] {
  const problems: string[] = [];
  if (metricsPort === mainPort) {
    problems.push(
      `METRICS_PORT: must differ from ${mainName} (both ${mainPort}); unset it to serve /metrics on ${mainName}`,
    );
  }
  if (metricsHost !== undefined && metricsPort === undefined) {
    problems.push(
      'METRICS_HOST is set but METRICS_PORT is not: set METRICS_PORT for a separate metrics listener',
    );
  }
  return problems;
}
