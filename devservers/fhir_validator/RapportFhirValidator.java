import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.DefaultProfileValidationSupport;
import ca.uhn.fhir.validation.FhirValidator;
import ca.uhn.fhir.validation.ValidationResult;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.hl7.fhir.common.hapi.validation.support.CommonCodeSystemsTerminologyService;
import org.hl7.fhir.common.hapi.validation.support.InMemoryTerminologyServerValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.SnapshotGeneratingValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.ValidationSupportChain;
import org.hl7.fhir.common.hapi.validation.validator.FhirInstanceValidator;

/**
 * HAPI FHIR's instance validator for FHIR R4 (4.0.1), offline, as a long-lived process.
 *
 * <p>Reads one FHIR JSON resource per line on stdin and answers each with one line on stdout:
 * the validation result as an R4 OperationOutcome in JSON. Prints "ready" once the core
 * profiles are loaded, so the caller pays the JVM's start-up once, not per resource.
 */
public final class RapportFhirValidator {
  public static void main(String[] args) throws Exception {
    FhirContext context = FhirContext.forR4();
    ValidationSupportChain chain =
        new ValidationSupportChain(
            new DefaultProfileValidationSupport(context),
            new SnapshotGeneratingValidationSupport(context),
            new InMemoryTerminologyServerValidationSupport(context),
            new CommonCodeSystemsTerminologyService(context));
    FhirInstanceValidator module = new FhirInstanceValidator(chain);
    // No network: references to other resources are not resolved, only checked for shape.
    module.setAnyExtensionsAllowed(true);
    FhirValidator validator = context.newValidator().registerValidatorModule(module);
    PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
    // The first validation loads the core profiles; do it before announcing readiness.
    validator.validateWithResult("{\"resourceType\":\"Basic\",\"code\":{\"text\":\"warm-up\"}}");
    out.println("ready");
    BufferedReader in =
        new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    String line;
    while ((line = in.readLine()) != null) {
      if (line.isBlank()) {
        continue;
      }
      String answer;
      try {
        ValidationResult result = validator.validateWithResult(line);
        answer = context.newJsonParser().encodeResourceToString(result.toOperationOutcome());
      } catch (RuntimeException e) {
        String message = String.valueOf(e.getMessage()).replace("\\", "\\\\").replace("\"", "'");
        answer =
            "{\"resourceType\":\"OperationOutcome\",\"issue\":[{\"severity\":\"fatal\","
                + "\"code\":\"exception\",\"diagnostics\":\""
                + message.replaceAll("[\\r\\n\\t]", " ")
                + "\"}]}";
      }
      out.println(answer);
    }
  }
}
