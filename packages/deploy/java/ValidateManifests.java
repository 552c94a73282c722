import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.kubernetes.client.openapi.models.V1ConfigMap;
import io.kubernetes.client.openapi.models.V1CronJob;
import io.kubernetes.client.openapi.models.V1Deployment;
import io.kubernetes.client.openapi.models.V1Ingress;
import io.kubernetes.client.openapi.models.V1Job;
import io.kubernetes.client.openapi.models.V1Namespace;
import io.kubernetes.client.openapi.models.V1NetworkPolicy;
import io.kubernetes.client.openapi.models.V1PodDisruptionBudget;
import io.kubernetes.client.openapi.models.V1Service;
import io.kubernetes.client.openapi.models.V1ServiceAccount;
import io.kubernetes.client.openapi.models.V2HorizontalPodAutoscaler;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.Map;

/**
 * Validates Kubernetes documents against the Kubernetes Java client's generated models, a second opinion beside
 * the checks in JavaScript. Reads a JSON array of documents on stdin and prints one line per problem,
 * "<index>\t<problem>", nothing for a valid document. The models' validateJsonElement rejects fields they do not
 * define, missing required fields and values of the wrong JSON type, one problem (the first) per document.
 */
public class ValidateManifests {
  interface Validator {
    void validate(JsonElement json) throws Exception;
  }

  /** apiVersion and kind to the model that validates it; a kind missing here is reported, never skipped. */
  static final Map<String, Validator> MODELS =
      Map.ofEntries(
          Map.entry("v1/Namespace", V1Namespace::validateJsonElement),
          Map.entry("v1/ConfigMap", V1ConfigMap::validateJsonElement),
          Map.entry("v1/Service", V1Service::validateJsonElement),
          Map.entry("v1/ServiceAccount", V1ServiceAccount::validateJsonElement),
          Map.entry("apps/v1/Deployment", V1Deployment::validateJsonElement),
          Map.entry("batch/v1/Job", V1Job::validateJsonElement),
          Map.entry("batch/v1/CronJob", V1CronJob::validateJsonElement),
          Map.entry("autoscaling/v2/HorizontalPodAutoscaler", V2HorizontalPodAutoscaler::validateJsonElement),
          Map.entry("policy/v1/PodDisruptionBudget", V1PodDisruptionBudget::validateJsonElement),
          Map.entry("networking.k8s.io/v1/Ingress", V1Ingress::validateJsonElement),
          Map.entry("networking.k8s.io/v1/NetworkPolicy", V1NetworkPolicy::validateJsonElement));

  public static void main(String[] args) throws Exception {
    JsonArray documents =
        JsonParser.parseReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)).getAsJsonArray();
    StringBuilder out = new StringBuilder();
    for (int i = 0; i < documents.size(); i++) {
      String problem = problemOf(documents.get(i));
      if (problem != null) out.append(i).append('\t').append(problem.replaceAll("\\s+", " ")).append('\n');
    }
    System.out.print(out);
    System.out.flush();
  }

  static String problemOf(JsonElement document) {
    if (!document.isJsonObject()) return "document is not an object";
    JsonObject object = document.getAsJsonObject();
    String apiVersion = object.has("apiVersion") ? object.get("apiVersion").getAsString() : "?";
    String kind = object.has("kind") ? object.get("kind").getAsString() : "?";
    Validator model = MODELS.get(apiVersion + "/" + kind);
    if (model == null) return "no model for " + apiVersion + " " + kind;
    try {
      model.validate(document);
      return null;
    } catch (Exception error) {
      // The message ends with the offending object's JSON, which can be long; the field and model come first.
      return String.valueOf(error.getMessage()).replaceAll("(?s)\\s*(JSON: |in the JSON string: ?)[\\[{].*$", "");
    }
  }
}
