package org.etmi.hapi;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.interceptor.api.IInterceptorBroadcaster;
import ca.uhn.fhir.jpa.api.config.JpaStorageSettings;
import ca.uhn.fhir.jpa.api.dao.DaoRegistry;
import ca.uhn.fhir.jpa.api.dao.IFhirSystemDao;
import ca.uhn.fhir.jpa.delete.ThreadSafeResourceDeleterSvc;
import ca.uhn.fhir.jpa.interceptor.CascadingDeleteInterceptor;
import ca.uhn.fhir.jpa.interceptor.UserRequestRetryVersionConflictsInterceptor;
import ca.uhn.fhir.jpa.provider.IJpaSystemProvider;
import ca.uhn.fhir.jpa.provider.JpaCapabilityStatementProvider;
import ca.uhn.fhir.jpa.provider.ValueSetOperationProvider;
import ca.uhn.fhir.jpa.search.DatabaseBackedPagingProvider;
import ca.uhn.fhir.jpa.validation.JpaValidationSupportChain;
import ca.uhn.fhir.rest.api.EncodingEnum;
import ca.uhn.fhir.rest.server.IncomingRequestAddressStrategy;
import ca.uhn.fhir.rest.server.RestfulServer;
import ca.uhn.fhir.rest.server.interceptor.CorsInterceptor;
import ca.uhn.fhir.rest.server.provider.ResourceProviderFactory;
import ca.uhn.fhir.rest.server.util.ISearchParamRegistry;
import java.util.List;
import org.springframework.context.ApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.web.cors.CorsConfiguration;

/** The REST layer: resource providers, system provider, capability statement, paging, CORS. */
@Configuration
public class FhirServerConfig {

	@Bean
	public RestfulServer restfulServer(
			ApplicationContext ctx,
			IFhirSystemDao<?, ?> systemDao,
			ResourceProviderFactory myResourceProvidersR4,
			IJpaSystemProvider systemProvider,
			JpaStorageSettings storageSettings,
			ISearchParamRegistry searchParamRegistry,
			JpaValidationSupportChain validationSupport,
			DatabaseBackedPagingProvider pagingProvider,
			DaoRegistry daoRegistry,
			IInterceptorBroadcaster broadcaster,
			ThreadSafeResourceDeleterSvc deleterSvc) {
		FhirContext fhirContext = systemDao.getContext();
		RestfulServer server = new RestfulServer(fhirContext);
		server.registerProviders(myResourceProvidersR4.createProviders());
		server.registerProvider(systemProvider);
		ctx.getBeansOfType(ValueSetOperationProvider.class).values().forEach(server::registerProvider);
		server.setServerConformanceProvider(new JpaCapabilityStatementProvider(
				server, systemDao, storageSettings, searchParamRegistry, validationSupport));
		server.setPagingProvider(pagingProvider);
		server.setDefaultResponseEncoding(EncodingEnum.JSON);
		server.setServerAddressStrategy(new IncomingRequestAddressStrategy());
		server.registerInterceptor(new CascadingDeleteInterceptor(fhirContext, daoRegistry, broadcaster, deleterSvc));
		server.registerInterceptor(new CorsInterceptor(cors()));
		// opt-in per request: X-Retry-On-Version-Conflict: retry; max-retries=N
		server.registerInterceptor(new UserRequestRetryVersionConflictsInterceptor());
		return server;
	}

	private static CorsConfiguration cors() {
		CorsConfiguration c = new CorsConfiguration();
		c.setAllowedHeaders(List.of("Origin", "Accept", "Content-Type", "Authorization", "Cache-Control",
				"If-Match", "If-None-Exist", "If-None-Match", "Prefer", "X-Requested-With"));
		c.addAllowedOriginPattern("*");
		c.setExposedHeaders(List.of("Location", "Content-Location", "ETag", "Last-Modified"));
		c.setAllowedMethods(List.of("GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "HEAD"));
		return c;
	}
}
